// Hostile input, property-based (fast-check, 10,000 generated inputs per property): whatever a CR field or a
// proxy Secret holds, the systemd drop-in the node agent writes has only the expected directives (Environment= of
// https_proxy, http_proxy, no_proxy, each value intact), and amazon-ssm-agent.json has only the expected keys with
// the expected values, every other key of a file found on the host kept as it was.
/* eslint-disable no-control-regex -- control characters are what these properties are about */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { parseNodeAgentConfig, type NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { defaultEndpoint } from '../../operator/api/regions.ts';
import { effectiveProxy } from '../../node-agent/config/effective.ts';
import { renderAgentConfigFile, renderProxyDropIn } from '../../node-agent/steps/agent-config-file.ts';
import { sampleConfig } from '../fixtures/configs.ts';

export const RUNS = 10_000;
const runs = { numRuns: RUNS };

/** Strings an attacker would try: control characters, quotes, backslashes, systemd specifiers, directives, unicode. */
const hostileChar = fc.oneof(
  fc.constantFrom('\n', '\r', '\t', '\0', '\u0085', '\u2028', '\u007f', '"', "'", '\\', '%', '$', ';', '#', '=', '[', ']', ' ', '@', ':', '/', '?'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const hostile = fc.oneof(
  fc.string({ unit: hostileChar, maxLength: 40 }),
  fc.tuple(fc.webUrl(), fc.string({ unit: hostileChar, maxLength: 20 })).map(([u, tail]) => u + tail),
  fc.constantFrom('http://p:3128\nExecStartPre=/bin/touch /pwned', 'http://p:3128\\\nExecStartPre=/x', 'http://p:1"\nExecStart=/x', 'http://%h:1', 'http://u:p@h:1\r\n[Unit]'),
);
const proxyUrl = fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), hostile);

/** A systemd unit-file line splitter and Environment= unquoter (double-quoted, C escapes, %% specifiers). */
function parseDropIn(text: string): { directives: string[]; env: [string, string][] } {
  assert.ok(text.endsWith('\n'));
  const lines = text.slice(0, -1).split('\n');
  const directives: string[] = [];
  const env: [string, string][] = [];
  for (const line of lines) {
    assert.ok(!/[\r\u0000-\u0008\u000b-\u001f\u007f]/.test(line), `control character in line ${JSON.stringify(line)}`);
    if (line.startsWith('#') || line.startsWith(';')) continue;
    assert.ok(!line.endsWith('\\'), `a continuation line: ${JSON.stringify(line)}`);
    if (line.startsWith('[')) {
      directives.push(line);
      continue;
    }
    // (s: a value may hold U+2028, which is not a line break to systemd)
    const m = /^([A-Za-z]+)=(.*)$/s.exec(line);
    assert.ok(m, `not a directive: ${JSON.stringify(line)}`);
    directives.push(m[1] as string);
    const value = m[2] as string;
    // One double-quoted word: no unescaped quote inside, nothing after the closing quote.
    const q = /^"((?:[^"\\]|\\.)*)"$/s.exec(value);
    assert.ok(q, `not one quoted word: ${JSON.stringify(value)}`);
    const unquoted = (q[1] as string).replace(/\\(.)/gs, '$1');
    assert.ok(!/%(?!%)/.test(unquoted.replace(/%%/g, '')), `a lone % specifier: ${JSON.stringify(value)}`);
    const word = unquoted.replace(/%%/g, '%');
    const eq = word.indexOf('=');
    env.push([word.slice(0, eq), word.slice(eq + 1)]);
  }
  return { directives, env };
}

function checkDropIn(proxy: { httpsProxy?: string | undefined; httpProxy?: string | undefined; noProxy: string[] }): void {
  let text: string | undefined;
  try {
    text = renderProxyDropIn(proxy);
  } catch (err) {
    // Refused: only ever for a control character, which must then be present.
    assert.match(String(err), /control character/);
    assert.ok([proxy.httpsProxy ?? '', proxy.httpProxy ?? '', ...proxy.noProxy].some((v) => /[\u0000-\u001f\u007f-\u009f]/.test(v)));
    return;
  }
  if (text === undefined) {
    assert.ok(!proxy.httpsProxy && !proxy.httpProxy);
    return;
  }
  const { directives, env } = parseDropIn(text);
  assert.deepEqual(directives.filter((d) => d !== 'Environment'), ['[Service]']);
  const want: [string, string][] = [
    ...(proxy.httpsProxy ? [['https_proxy', proxy.httpsProxy] as [string, string]] : []),
    ...(proxy.httpProxy ? [['http_proxy', proxy.httpProxy] as [string, string]] : []),
    ['no_proxy', proxy.noProxy.join(',')],
  ];
  assert.deepEqual(env, want, 'each value comes back intact, under its own name only');
}

test(`drop-in: any inline proxy values (as if the CR's validation were bypassed): only Environment= lines, values intact (${RUNS} inputs)`, () => {
  fc.assert(
    fc.property(fc.option(proxyUrl, { nil: undefined }), fc.option(proxyUrl, { nil: undefined }), fc.array(hostile, { maxLength: 5 }), (httpsProxy, httpProxy, noProxy) => {
      checkDropIn({ httpsProxy, httpProxy, noProxy });
    }),
    runs,
  );
});

test(`drop-in: any proxy Secret values: a step error naming the key, or only Environment= lines (${RUNS} inputs)`, async () => {
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(fc.option(proxyUrl, { nil: undefined }), fc.option(proxyUrl, { nil: undefined }), async (httpsProxy, httpProxy) => {
      const secret: Record<string, string | undefined> = { httpsProxy, httpProxy };
      const r = effectiveProxy({ noProxy: ['169.254.169.254'], secretDir: '/s', secretName: 'p' }, secret);
      if (!r.ok) {
        refused++;
        assert.match(r.message, /Secret p/);
        return;
      }
      // What passed the check is a URL without control characters or white space.
      for (const v of [r.proxy.httpsProxy, r.proxy.httpProxy]) if (v !== undefined) assert.ok(!/[\s\u0000-\u001f\u007f-\u009f]/.test(v) && /^https?:\/\//i.test(v), JSON.stringify(v));
      checkDropIn(r.proxy);
    }),
    runs,
  );
  assert.ok(refused > 0 && refused < RUNS, `both outcomes were generated (${refused} refused)`);
});

const endpointHost = fc.oneof(fc.domain(), hostile);
const existingFile = fc.oneof(
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify({ Agent: v, Ssm: { Endpoint: v, Other: 1 }, Os: v, Keep: { deep: [v] } })),
  fc.constantFrom('{"__proto__": {"polluted": true}, "Agent": {"SelfUpdate": true}}', '{"constructor": {"prototype": {"x": 1}}}', 'not json', '', '[]', 'null'),
  hostile,
);

test(`amazon-ssm-agent.json: any endpoints and any file found on the host give only the expected keys and values (${RUNS} inputs)`, () => {
  const base = renderNodeAgentConfig(sampleConfig('prop', { region: 'eu-west-1' }));
  fc.assert(
    fc.property(fc.record({ ssm: endpointHost, ec2messages: endpointHost, ssmmessages: endpointHost, s3: endpointHost }), fc.boolean(), existingFile, (endpoints, selfUpdate, existing) => {
      const config: NodeAgentConfig = { ...base, endpoints, agent: { ...base.agent, selfUpdate } };
      const out = renderAgentConfigFile(config, existing);
      const doc = JSON.parse(out) as Record<string, Record<string, unknown>>;
      assert.equal(typeof doc, 'object');
      assert.ok(doc !== null && !Array.isArray(doc));
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
      let before: Record<string, unknown> = {};
      try {
        const parsed: unknown = JSON.parse(existing);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) before = parsed as Record<string, unknown>;
      } catch {
        // replaced
      }
      const managed = ['Agent', 'Ssm', 'Mds', 'Mgs', 'S3'];
      assert.deepEqual(Object.keys(doc).sort(), [...new Set([...Object.keys(before), ...managed])].sort());
      for (const [k, v] of Object.entries(before)) if (!managed.includes(k)) assert.deepEqual(doc[k], v, `key ${k} kept`);
      assert.equal(doc.Agent?.SelfUpdate, selfUpdate);
      const want = (service: 'ssm' | 'ec2messages' | 'ssmmessages' | 's3') => (endpoints[service] === defaultEndpoint(service, 'eu-west-1') ? '' : endpoints[service]);
      assert.equal(doc.Ssm?.Endpoint, want('ssm'));
      assert.equal(doc.Mds?.Endpoint, want('ec2messages'));
      assert.equal(doc.Mgs?.Endpoint, want('ssmmessages'));
      assert.equal(doc.S3?.Endpoint, want('s3'));
    }),
    runs,
  );
});

test(`the rendered node-agent config of any accepted spec round-trips through the node agent's parser (${RUNS} inputs)`, () => {
  fc.assert(
    fc.property(fc.array(fc.domain(), { maxLength: 5 }), fc.option(fc.webUrl(), { nil: undefined }), fc.boolean(), (noProxy, httpsProxy, sudo) => {
      const config = sampleConfig('prop', { region: 'us-east-1', ssmUser: { create: true, sudo }, proxy: { noProxy, ...(httpsProxy ? { httpsProxy } : {}) } });
      const rendered = renderNodeAgentConfig(config);
      const parsed = parseNodeAgentConfig(JSON.stringify(rendered));
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
      assert.deepEqual(parsed.config, rendered);
      assert.ok(rendered.proxy.noProxy.includes('169.254.169.254'));
      checkDropIn(rendered.proxy);
    }),
    runs,
  );
});
