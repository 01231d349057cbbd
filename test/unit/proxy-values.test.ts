// Proxy values from every source get one check (operator/api/proxy-url.ts); the proxy Secret's values are judged
// by the node agent (the API server never sees them) and a bad one is an error naming the key, never "no proxy";
// the drop-in writer refuses control characters whatever checked the value before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { proxyUrlProblem } from '../../operator/api/proxy-url.ts';
import { effectiveProxy } from '../../node-agent/config/effective.ts';
import { renderProxyDropIn } from '../../node-agent/steps/agent-config-file.ts';

const INJECTION = 'http://p:3128\nExecStartPre=/bin/touch /pwned';

test('proxyUrlProblem: http(s) URLs with a host pass; control characters, other schemes and junk do not', () => {
  for (const ok of ['http://proxy.corp:3128', 'https://proxy.corp', 'http://10.0.0.1:8080/', 'http://[::1]:3128']) assert.equal(proxyUrlProblem(ok, { allowCredentials: false }), undefined, ok);
  const cases: [string, RegExp][] = [
    [INJECTION, /control character/],
    ['http://p:3128\rX', /control character/],
    ['http://p:3128\u0000', /control character/],
    ['http://p:3128\u0085', /control character/],
    ['http://p :3128', /white space/],
    ['socks5://p:1080', /scheme socks5/],
    ['file:///etc/passwd', /scheme file/],
    ['proxy.corp:3128', /scheme|not a URL/],
    ['', /empty/],
    [`http://${'a'.repeat(3000)}`, /longer/],
  ];
  for (const [value, want] of cases) assert.match(proxyUrlProblem(value, { allowCredentials: true }) ?? 'accepted', want, JSON.stringify(value));
});

test('proxyUrlProblem: credentials only where allowed, and the message never repeats the value', () => {
  assert.equal(proxyUrlProblem('http://user:s3cret@proxy:3128', { allowCredentials: true }), undefined);
  const problem = proxyUrlProblem('http://user:s3cret@proxy:3128', { allowCredentials: false }) ?? '';
  assert.match(problem, /credentials.*secretRef/);
  assert.doesNotMatch(problem, /s3cret/);
});

const secretDir = '/var/run/secrets/ssmagent.io/proxy';
const fromSecret = async (values: Record<string, string>) => effectiveProxy({ noProxy: ['169.254.169.254'], secretDir, secretName: 'corp-proxy' }, values);

test('a proxy Secret value with a newline is an error naming the Secret, the key and the fix', async () => {
  const r = await fromSecret({ httpsProxy: INJECTION });
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.equal(r.reason, 'ProxySecretInvalid');
  assert.match(r.message, /key httpsProxy of Secret corp-proxy contains a control character/);
  assert.match(r.message, /http:\/\/user:password@proxy\.example\.com:3128/);
  assert.doesNotMatch(r.message, /ExecStartPre/);
});

test('a proxy Secret with no usable key is an error, not "no proxy"', async () => {
  for (const values of [{}, { httpsProxy: '  \n' }] as Record<string, string>[]) {
    const r = await fromSecret(values);
    assert.ok(!r.ok, JSON.stringify(values));
    assert.match(r.message, /Secret corp-proxy has neither an httpsProxy nor an httpProxy/);
  }
});

test('good Secret values are trimmed of surrounding white space only and may carry credentials', async () => {
  const r = await fromSecret({ httpsProxy: 'http://u:p%40ss@proxy.corp:3128\n', httpProxy: 'http://proxy.corp:3128' });
  assert.ok(r.ok);
  assert.deepEqual(r.proxy, { noProxy: ['169.254.169.254'], httpsProxy: 'http://u:p%40ss@proxy.corp:3128', httpProxy: 'http://proxy.corp:3128' });
  const bad = await fromSecret({ httpsProxy: 'http://proxy.corp:3128', httpProxy: 'gopher://x' });
  assert.ok(!bad.ok);
  assert.match(bad.message, /key httpProxy/);
});

test('the drop-in writer refuses a value with a control character, in any variable', () => {
  assert.throws(() => renderProxyDropIn({ httpsProxy: INJECTION, noProxy: [] }), /control character/);
  assert.throws(() => renderProxyDropIn({ httpProxy: 'http://p:1\r\nExecStart=/x', noProxy: [] }), /control character/);
  assert.throws(() => renderProxyDropIn({ httpsProxy: 'http://p:1', noProxy: ['a\nExecStartPre=/x'] }), /no_proxy/);
  const ok = renderProxyDropIn({ httpsProxy: 'http://p:1', noProxy: ['.corp'] }) ?? '';
  assert.equal(ok.split('\n').filter((l) => /^\w+=/.test(l)).every((l) => l.startsWith('Environment=')), true);
});
