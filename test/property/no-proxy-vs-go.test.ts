// The node agent's no_proxy matcher (node-agent/probes/no-proxy.ts, used by the probes and the downloads) against
// Go's golang.org/x/net/http/httpproxy, which amazon-ssm-agent itself uses: 10,000 generated (no_proxy, host, port)
// cases. Every disagreement must fall in one of the divergences the matcher documents; the counts are printed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { bypassesProxy, parseIp } from '../../node-agent/probes/no-proxy.ts';
import { ensureHttpproxyCheck, goProxyDecisions } from '../harness/go-httpproxy.ts';

const RUNS = 10_000;

const label = fc.constantFrom('a', 'b', 'corp', 'example', 'svc', 'amazonaws', 'ssm', 'com', 'internal', 'xn--bcher-kva');
const domain = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.'));
const ip4 = fc.oneof(fc.constantFrom('10.0.0.1', '10.1.2.3', '192.168.1.1', '127.0.0.1', '169.254.169.254', '0.0.0.0'), fc.ipV4());
const ip6 = fc.oneof(fc.constantFrom('::1', 'fd00::1', 'fd00::2', '2001:db8::1', '::ffff:10.0.0.1'), fc.ipV6());
const port = fc.constantFrom(443, 80, 8443);
const entry = fc.oneof(
  domain,
  domain.map((d) => `.${d}`),
  domain.map((d) => `*.${d}`),
  fc.tuple(domain, port).map(([d, p]) => `${d}:${p}`),
  ip4,
  fc.tuple(ip4, port).map(([i, p]) => `${i}:${p}`),
  fc.tuple(ip4, fc.integer({ min: 0, max: 32 })).map(([i, n]) => `${i}/${n}`),
  ip6,
  fc.tuple(ip6, port).map(([i, p]) => `[${i}]:${p}`),
  fc.tuple(ip6, fc.integer({ min: 0, max: 128 })).map(([i, n]) => `${i}/${n}`),
  fc.constantFrom('*', 'localhost', 'LOCALHOST', 'Example.COM'),
);
const host = fc.oneof(domain, ip4, ip6, fc.constantFrom('localhost', '127.0.0.1', '::1', 'example.com', 'ssm.us-east-1.amazonaws.com'));

const isLoopback = (h: string) => {
  const b = parseIp(h);
  return h === 'localhost' || (b !== undefined && (b.length === 4 ? b[0] === 127 : b.every((x, i) => x === (i === 15 ? 1 : 0))));
};

/** Why the two may disagree on this case (the matcher's documented divergences), or undefined. */
function divergence(noProxy: string[], h: string, p: number, direct: boolean, goDirect: boolean): string | undefined {
  const entries = noProxy.map((e) => e.trim().toLowerCase());
  const ip = parseIp(h) !== undefined;
  // Go always goes direct for localhost and loopback addresses; the matcher lets the list decide.
  if (goDirect && !direct && isLoopback(h)) return 'Go exempts localhost/loopback implicitly';
  // `.example.com` and `*.example.com` match example.com itself in the matcher (as curl), only subdomains in Go.
  const apex = (e: string) => (e.startsWith('*.') ? e.slice(2) : e.startsWith('.') ? e.slice(1) : undefined);
  if (direct && !goDirect && !ip && entries.some((e) => apex(e) === h || apex(e) === `${h}:${p}`)) return '".domain" / "*.domain" also match the apex (curl), not in Go';
  // Go compares domain entries by suffix against any host, IP addresses included ("1.1" matches 10.1.1).
  if (goDirect && !direct && ip && entries.some((e) => parseIp(e.replace(/:\d+$/, '')) === undefined && !e.includes('/'))) return 'Go matches domain entries against IP hosts by suffix';
  // An IPv4-mapped IPv6 address counts as its IPv4 address in the matcher.
  if (direct !== goDirect && (h.startsWith('::ffff:') || entries.some((e) => e.includes('::ffff:')))) return 'IPv4-mapped IPv6 is IPv4 in the matcher';
  return undefined;
}

test(`no_proxy: the matcher agrees with Go's httpproxy except for its documented divergences (${RUNS} cases)`, { timeout: 15 * 60_000 }, async (t) => {
  const oracle = await ensureHttpproxyCheck();
  if ('skip' in oracle) {
    t.skip(oracle.skip);
    return;
  }
  const cases = fc.sample(fc.record({ noProxy: fc.array(entry, { minLength: 0, maxLength: 4 }), host, port }), { numRuns: RUNS, seed: 20261201 });
  const urlHost = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const go = await goProxyDecisions(
    oracle.bin,
    cases.map((c) => ({ noProxy: c.noProxy.join(','), url: `https://${urlHost(c.host)}:${c.port}/` })),
  );
  const counts = new Map<string, number>();
  let agree = 0;
  let direct = 0;
  const unexplained: string[] = [];
  cases.forEach((c, i) => {
    const goDecision = go[i];
    assert.notEqual(goDecision, 'error', `Go failed on ${JSON.stringify(c)}`);
    const ours = bypassesProxy(c.host, c.port, c.noProxy);
    const theirs = goDecision === 'direct';
    if (ours) direct++;
    if (ours === theirs) {
      agree++;
      return;
    }
    const why = divergence(c.noProxy, c.host, c.port, ours, theirs);
    if (!why) unexplained.push(`${JSON.stringify(c)}: matcher ${ours ? 'direct' : 'proxy'}, Go ${goDecision}`);
    else counts.set(why, (counts.get(why) ?? 0) + 1);
  });
  const report = [`${cases.length} cases: ${agree} agree (${direct} direct by the matcher)`, ...[...counts].map(([why, n]) => `${n} × ${why}`)].join('\n  ');
  t.diagnostic(report);
  process.stdout.write(`no_proxy vs Go httpproxy:\n  ${report}\n`);
  assert.deepEqual(unexplained.slice(0, 20), [], `${unexplained.length} undocumented disagreements`);
  assert.ok(agree > cases.length * 0.8, 'the generator exercises mostly the common ground');
});
