// The operator's own AWS calls through a proxy: the SSM API emulator behind TLS (a certificate from a test CA, given
// as AWS_CA_BUNDLE would be), a real tinyproxy, and the operator's SSM client configured from the environment the
// chart's proxy.* values set. The proxy must see the CONNECT; a NO_PROXY match must bypass it; an unreachable proxy
// must make the call fail (so nothing silently went direct). Bad values stop the operator naming the variable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSsmApi } from '../../operator/aws/ssm-api.ts';
import { nodeHasProxyAgent, readAwsProxy, type AwsProxy } from '../../operator/aws/proxy-agent.ts';
import { readSettings } from '../../operator/settings.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';
import { createTestCa, type TestCa } from '../servers/test-ca.ts';
import { closedPort, startTlsForwarder, type TestServer } from '../servers/tls-servers.ts';
import { startTinyproxy, tinyproxyAvailable, type Tinyproxy } from '../servers/tinyproxy.ts';

const REGION = 'us-east-1';
const dir = mkdtempSync(path.join(tmpdir(), 'ssm-operator-proxy-'));
let emulator: SsmEmulator | undefined;
let tls: TestServer | undefined;
let proxy: Tinyproxy | undefined;
let ca: TestCa | undefined;

before(async () => {
  assert.ok(tinyproxyAvailable(), 'tinyproxy is installed (test/tools/ensure-packages.sh)');
  emulator = await startSsmEmulator({ region: REGION });
  ca = createTestCa(path.join(dir, 'ca'));
  const leaf = ca.issue({ name: 'ssm', dnsNames: ['localhost'] });
  tls = await startTlsForwarder({ cert: leaf.cert, key: leaf.key, targetPort: Number(new URL(emulator.url).port) });
  proxy = await startTinyproxy({ dir, connectPorts: [tls.port] });
});

after(async () => {
  await proxy?.stop();
  await tls?.close();
  await emulator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One DescribeInstanceInformation call by the operator's SSM client, configured from `env` as the operator is. */
async function callThrough(env: Record<string, string>): Promise<void> {
  assert.ok(emulator && tls && ca);
  const read = readAwsProxy(env);
  assert.ok(read.ok, JSON.stringify(read));
  const api = createSsmApi({
    region: REGION,
    endpoint: `https://localhost:${tls.port}`,
    credentials: { kind: 'static', ...emulator.credentials },
    proxy: read.proxy satisfies AwsProxy,
    caBundle: ca.cert,
    maxAttempts: 1,
    connectionTimeoutMs: 3_000,
    requestTimeoutMs: 5_000,
  });
  try {
    await api.listManagedInstances();
  } finally {
    api.destroy();
  }
}

const answered = () => emulator?.state.callsTo('DescribeInstanceInformation').length ?? 0;

test('HTTPS_PROXY: the SSM call goes through the proxy with CONNECT and reaches the emulator', async () => {
  assert.ok(proxy && tls);
  const before = answered();
  await callThrough({ HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,.internal' });
  assert.equal(answered(), before + 1, 'the emulator answered');
  assert.ok(proxy.connectTargets().includes(`localhost:${tls.port}`), `the proxy saw CONNECT localhost:${tls.port}: ${proxy.connectTargets().join(', ')}`);
});

test('lowercase https_proxy works too', async () => {
  assert.ok(proxy && tls);
  const connects = proxy.connectTargets().length;
  await callThrough({ https_proxy: proxy.url });
  assert.equal(proxy.connectTargets().length, connects + 1);
});

test('NO_PROXY matching the endpoint bypasses the proxy', async () => {
  assert.ok(proxy);
  const connects = proxy.connectTargets().length;
  const before = answered();
  await callThrough({ HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,localhost' });
  assert.equal(answered(), before + 1, 'the emulator answered, directly');
  assert.equal(proxy.connectTargets().length, connects, 'the proxy saw no new CONNECT');
});

test('an unreachable proxy fails the call: nothing goes direct behind its back', async () => {
  const port = await closedPort();
  const before = answered();
  await assert.rejects(callThrough({ HTTPS_PROXY: `http://127.0.0.1:${port}` }));
  assert.equal(answered(), before, 'the emulator was not reached');
});

test('the operator refuses a proxy variable that is not an http(s) URL, naming it and not its value', () => {
  const base = { POD_NAMESPACE: 'ssm-system', NODE_AGENT_IMAGE: 'img:1' };
  const bad = readSettings({ ...base, HTTPS_PROXY: 'socks5://user:secret@proxy:1080' });
  assert.equal(bad.ok, false);
  assert.ok(!bad.ok && bad.errors.some((e) => e.startsWith('HTTPS_PROXY has scheme socks5')), JSON.stringify(bad));
  assert.ok(!bad.ok && bad.errors.every((e) => !e.includes('secret')), 'the password is not repeated');
  const good = readSettings({ ...base, HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: '.svc,10.0.0.1', AWS_CA_BUNDLE: '/etc/ssl/proxy-ca.pem' });
  assert.ok(good.ok);
  assert.deepEqual(good.settings.awsProxy, { httpsProxy: 'http://proxy:3128', noProxy: '.svc,10.0.0.1' });
  assert.equal(good.settings.awsCaBundleFile, '/etc/ssl/proxy-ca.pem');
});

test('a Node.js that would ignore the proxy is refused rather than bypassing it silently', () => {
  assert.equal(nodeHasProxyAgent('24.4.1'), false);
  assert.equal(nodeHasProxyAgent('22.12.0'), false);
  assert.equal(nodeHasProxyAgent('24.5.0'), true);
  assert.equal(nodeHasProxyAgent('25.0.0'), true);
  assert.ok(nodeHasProxyAgent(process.versions.node), `this Node.js (${process.versions.node}) has it`);
});
