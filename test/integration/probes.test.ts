// The node agent's connectivity probes against real loopback servers: TLS servers with a throwaway test CA (good,
// self-signed, wrong name, expired, silent), a closed port, an unknown name, a black hole, and a real tinyproxy
// (plain, with Basic auth, and behind a TLS front as an https:// proxy). Then a mixed probeAll cycle whose metrics
// must pass `promtool check metrics`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { probeEndpoint, type ProbeOptions } from '../../node-agent/probes/probe-endpoint.ts';
import { probeAll, type ProbeConfig } from '../../node-agent/probes/probe-all.ts';
import { connectTcp } from '../../node-agent/probes/connect-tcp.ts';
import { registerProbeMetrics } from '../../node-agent/probes/probe-metrics.ts';
import type { ProbeResult, ProbeTarget } from '../../node-agent/probes/types.ts';
import { createTestCa, selfSignedCert, type TestCa } from '../servers/test-ca.ts';
import {
  closedPort,
  startBlackHole,
  startHttpsServer,
  startSilentTcpServer,
  startSilentTlsServer,
  startTlsForwarder,
  type BlackHole,
  type HttpsTestServer,
  type TestServer,
} from '../servers/tls-servers.ts';
import { startTinyproxy, tinyproxyAvailable, type Tinyproxy } from '../servers/tinyproxy.ts';

const PROMTOOL = '/usr/bin/promtool';
const PASSWORD = 'pr0xy-S3cret';
const TIMEOUT_MS = 1_500;

let dir = '';
let ca: TestCa;
let good: HttpsTestServer;
let selfSigned: TestServer;
let wrongName: TestServer;
let expired: TestServer;
let silentTcp: TestServer;
let silentTls: TestServer;
let plainHttp: TestServer;
let refusedPort = 0;
let blackHole: BlackHole | undefined;
let proxy: Tinyproxy;
let authProxy: Tinyproxy;
let httpsProxyFront: TestServer;
const closers: (() => Promise<void>)[] = [];

const target = (port: number, host = 'localhost'): ProbeTarget => ({ name: 'ssm', host, port });
const opts = (extra: Partial<ProbeOptions> = {}): ProbeOptions => ({ timeoutMs: TIMEOUT_MS, caFile: ca.certFile, ...extra });

function assertFailed(r: ProbeResult, reason: string, messagePattern?: RegExp): void {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  assert.equal(r.reason, reason, `reason of ${JSON.stringify(r)}`);
  assert.ok(r.message && r.message.length > 0, 'a failure has a message');
  if (messagePattern) assert.match(r.message, messagePattern);
}

function assertPhases(r: ProbeResult, phases: readonly string[]): void {
  assert.deepEqual(Object.keys(r.phases).sort(), [...phases].sort(), `phases of ${JSON.stringify(r)}`);
  for (const v of Object.values(r.phases)) assert.ok(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 60, `phase seconds ${v}`);
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'probes-'));
  ca = createTestCa(path.join(dir, 'ca'));
  const local = { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] };
  const goodCert = ca.issue({ name: 'good', ...local });
  const wrongCert = ca.issue({ name: 'wrong-name', dnsNames: ['ssm.us-east-1.amazonaws.com'] });
  const expiredCert = ca.issue({ name: 'expired', ...local, notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  const selfCert = selfSignedCert(path.join(dir, 'self'), { name: 'self', ...local });

  good = await startHttpsServer({ ...goodCert, status: 404 });
  selfSigned = await startHttpsServer(selfCert);
  wrongName = await startHttpsServer(wrongCert);
  expired = await startHttpsServer(expiredCert);
  silentTcp = await startSilentTcpServer();
  silentTls = await startSilentTlsServer(goodCert);
  const plain = createHttpServer((_req, res) => res.writeHead(200).end('plain\n'));
  plain.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => plain.once('listening', () => resolve()));
  const plainAddress = plain.address();
  plainHttp = {
    host: '127.0.0.1',
    port: typeof plainAddress === 'object' && plainAddress ? plainAddress.port : 0,
    close: () => new Promise<void>((resolve) => plain.close(() => resolve())),
  };
  closers.push(good.close, selfSigned.close, wrongName.close, expired.close, silentTcp.close, silentTls.close, plainHttp.close);
  refusedPort = await closedPort();

  assert.ok(tinyproxyAvailable(), 'tinyproxy is installed (test/tools/ensure-packages.sh)');
  const allowed = [good.port, selfSigned.port];
  proxy = await startTinyproxy({ dir, connectPorts: allowed });
  closers.push(proxy.stop);
  const authDir = path.join(dir, 'auth');
  await mkdir(authDir);
  authProxy = await startTinyproxy({ dir: authDir, connectPorts: allowed, basicAuth: { user: 'probe', password: PASSWORD } });
  closers.push(authProxy.stop);
  httpsProxyFront = await startTlsForwarder({ ...goodCert, targetPort: proxy.port });
  closers.push(httpsProxyFront.close);
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  if (blackHole) await blackHole.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a good certificate (test CA via caFile): ok, all four phases timed, the status read', async () => {
  const r = await probeEndpoint(target(good.port), opts());
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.via, 'direct');
  assert.equal(r.httpStatus, 404);
  assert.equal(r.reason, undefined);
  assertPhases(r, ['dns', 'tcp', 'tls', 'http']);
  assert.equal(r.resolvedHost, 'localhost');
  assert.ok(r.addresses?.includes('127.0.0.1'));
  assert.equal(r.connectedAddress, '127.0.0.1');
  assert.ok(r.at instanceof Date);
  assert.equal(good.hosts.at(-1), `localhost:${good.port}`, 'the request carried the Host header');
});

test('an IP address as host is verified against the IP SANs (no SNI)', async () => {
  const r = await probeEndpoint(target(good.port, '127.0.0.1'), opts());
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.addresses, ['127.0.0.1']);
});

test('a self-signed certificate → tls_untrusted', async () => {
  const r = await probeEndpoint(target(selfSigned.port), opts());
  assertFailed(r, 'tls_untrusted', /DEPTH_ZERO_SELF_SIGNED_CERT/);
  assertPhases(r, ['dns', 'tcp']);
});

test('a certificate for another name → tls_untrusted', async () => {
  const r = await probeEndpoint(target(wrongName.port), opts());
  assertFailed(r, 'tls_untrusted', /ERR_TLS_CERT_ALTNAME_INVALID/);
});

test('an expired certificate → tls_untrusted', async () => {
  const r = await probeEndpoint(target(expired.port), opts());
  assertFailed(r, 'tls_untrusted', /CERT_HAS_EXPIRED/);
});

test('a certificate from a CA nobody trusts (no caFile: only the system and Node roots) → tls_untrusted', async () => {
  const r = await probeEndpoint(target(good.port), { timeoutMs: TIMEOUT_MS });
  assertFailed(r, 'tls_untrusted', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
  assert.match(r.message ?? '', /issuer CN=ssm-agent-operator test CA/, 'the message names the issuer (an intercepting proxy shows here)');
});

test('a closed port → tcp_refused', async () => {
  const r = await probeEndpoint(target(refusedPort, '127.0.0.1'), opts());
  assertFailed(r, 'tcp_refused', /ECONNREFUSED/);
  assertPhases(r, ['dns']);
});

test('an unknown name → dns', async () => {
  const r = await probeEndpoint({ name: 'ec2messages', host: 'nonexistent.invalid' }, opts());
  assertFailed(r, 'dns', /nonexistent\.invalid/);
  assertPhases(r, []);
  assert.equal(r.endpoint, 'ec2messages');
});

test('a TCP server that never speaks TLS → tls_handshake (timeout)', async () => {
  const t0 = performance.now();
  const r = await probeEndpoint(target(silentTcp.port), opts({ timeoutMs: 500 }));
  assertFailed(r, 'tls_handshake', /no answer within 500 ms/);
  assertPhases(r, ['dns', 'tcp']);
  assert.ok(performance.now() - t0 < 3_000);
});

test('a server that answers in plain HTTP → tls_handshake', async () => {
  const r = await probeEndpoint(target(plainHttp.port, '127.0.0.1'), opts());
  assertFailed(r, 'tls_handshake');
});

test('a TLS server that never answers HTTP → http', async () => {
  const r = await probeEndpoint(target(silentTls.port), opts({ timeoutMs: 500 }));
  assertFailed(r, 'http', /no answer within 500 ms/);
  assertPhases(r, ['dns', 'tcp', 'tls']);
});

test('tcp tries the resolved addresses in order: a refused ::1 falls through to 127.0.0.1', async () => {
  const c = await connectTcp(['::1', '127.0.0.1'], good.port, TIMEOUT_MS);
  assert.equal(c.address, '127.0.0.1');
  c.socket.destroy();
  const err = await connectTcp(['::1', '127.0.0.1'], refusedPort, TIMEOUT_MS).catch((e: unknown) => e);
  assert.match(String(err), /\[::1\]:\d+ (ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH); 127\.0\.0\.1:\d+ ECONNREFUSED/);
});

test('a black-holed connect (a listener whose accept queue is full drops SYNs) → tcp_timeout', async () => {
  blackHole = await startBlackHole(dir);
  const t0 = performance.now();
  const r = await probeEndpoint(target(blackHole.port, '127.0.0.1'), opts({ timeoutMs: 700 }));
  const elapsed = performance.now() - t0;
  assertFailed(r, 'tcp_timeout', /no answer within/);
  assertPhases(r, ['dns']);
  assert.ok(elapsed >= 650 && elapsed < 3_000, `took ${elapsed} ms`);
});

test('through tinyproxy: ok, and the proxy logged the CONNECT; DNS resolved the proxy, not the target', async () => {
  const before = proxy.connectTargets().length;
  const r = await probeEndpoint(target(good.port), opts({ proxy: proxy.url, noProxy: ['169.254.169.254', '.example.com'] }));
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.via, 'proxy');
  assert.equal(r.proxy, proxy.url);
  assert.equal(r.resolvedHost, '127.0.0.1', 'the proxy host was resolved, not the endpoint');
  assert.equal(r.connectedAddress, '127.0.0.1');
  assertPhases(r, ['dns', 'tcp', 'tls', 'http']);
  assert.deepEqual(proxy.connectTargets().slice(before), [`localhost:${good.port}`]);
});

test('a host in noProxy goes direct: no CONNECT in the proxy log', async () => {
  const before = proxy.connectTargets().length;
  const r = await probeEndpoint(target(good.port), opts({ proxy: proxy.url, noProxy: ['169.254.169.254', 'LOCALHOST'] }));
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.via, 'direct');
  assert.equal(r.noProxyMatch, 'LOCALHOST');
  assert.equal(r.resolvedHost, 'localhost');
  // A probe through the proxy afterwards is logged, so the log is being written: the absence above means something.
  await probeEndpoint(target(good.port), opts({ proxy: proxy.url }));
  assert.deepEqual(proxy.connectTargets().slice(before), [`localhost:${good.port}`]);
});

test('a proxy on a closed port → proxy', async () => {
  const r = await probeEndpoint(target(good.port), opts({ proxy: `http://127.0.0.1:${refusedPort}` }));
  assertFailed(r, 'proxy', /proxy http:\/\/127\.0\.0\.1:\d+ unreachable: .*ECONNREFUSED/);
  assert.equal(r.via, 'proxy');
});

test('a proxy whose name does not resolve → proxy', async () => {
  const r = await probeEndpoint(target(good.port), opts({ proxy: 'http://proxy.nonexistent.invalid:3128' }));
  assertFailed(r, 'proxy', /unreachable: cannot resolve proxy\.nonexistent\.invalid/);
});

test('a CONNECT the proxy refuses (port not in ConnectPort) → proxy', async () => {
  const r = await probeEndpoint(target(silentTls.port), opts({ proxy: proxy.url }));
  assertFailed(r, 'proxy', /403/);
  assert.ok(proxy.connectTargets().includes(`localhost:${silentTls.port}`));
});

test('through the proxy to an endpoint with an untrusted certificate (an intercepting proxy) → tls_untrusted', async () => {
  const r = await probeEndpoint(target(selfSigned.port), opts({ proxy: proxy.url }));
  assertFailed(r, 'tls_untrusted');
  assert.equal(r.via, 'proxy');
});

test('proxy credentials: sent as Basic auth; wrong or missing ones → proxy; the password is never in a result', async () => {
  const withAuth = (user: string, pass: string) => `http://${user}:${encodeURIComponent(pass)}@127.0.0.1:${authProxy.port}`;
  const ok = await probeEndpoint(target(good.port), opts({ proxy: withAuth('probe', PASSWORD) }));
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.equal(ok.proxy, `http://127.0.0.1:${authProxy.port}`, 'the returned proxy URL has no credentials');
  const wrong = await probeEndpoint(target(good.port), opts({ proxy: withAuth('probe', `${PASSWORD}-wrong`) }));
  assertFailed(wrong, 'proxy', /rejected the credentials \(HTTP\/1\.[01] 40[17]/);
  const none = await probeEndpoint(target(good.port), opts({ proxy: authProxy.url }));
  assertFailed(none, 'proxy', /requires authentication and none is configured \(HTTP\/1\.[01] 407/);
  for (const r of [ok, wrong, none]) {
    const text = JSON.stringify(r);
    assert.ok(!text.includes(PASSWORD) && !text.includes('probe:'), `no credentials in ${text}`);
  }
});

test('an https:// proxy (TLS to the proxy, then CONNECT inside it) works, and an untrusted proxy certificate → proxy', async () => {
  const url = `https://localhost:${httpsProxyFront.port}`;
  const before = proxy.connectTargets().length;
  const r = await probeEndpoint(target(good.port), opts({ proxy: url }));
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.via, 'proxy');
  assert.deepEqual(proxy.connectTargets().slice(before), [`localhost:${good.port}`]);
  const untrusted = await probeEndpoint(target(good.port), { timeoutMs: TIMEOUT_MS, proxy: url });
  assertFailed(untrusted, 'proxy', /certificate not trusted/);
});

test('an unusable proxy URL → proxy, without echoing the URL', async () => {
  const r = await probeEndpoint(target(good.port), opts({ proxy: `socks5://u:${PASSWORD}@127.0.0.1:1080` }));
  assertFailed(r, 'proxy', /socks5/);
  assert.ok(!JSON.stringify(r).includes(PASSWORD));
});

test('probeAll: four endpoints concurrently through the proxy with no_proxy, bounded; metrics pass promtool', async () => {
  const config: ProbeConfig = {
    endpoints: { ssm: 'localhost', ec2messages: '127.0.0.1', ssmmessages: 'nonexistent.invalid', s3: 'localhost' },
    proxy: { httpsProxy: `http://probe:${PASSWORD}@127.0.0.1:${authProxy.port}`, noProxy: ['169.254.169.254', '127.0.0.0/8', 'nonexistent.invalid'] },
    connectivity: { intervalSeconds: 60, timeoutSeconds: 1 },
  };
  const before = authProxy.connectTargets().length;
  const t0 = performance.now();
  const results = await probeAll(config, { caFile: ca.certFile, ports: { ssm: good.port, ec2messages: refusedPort, s3: selfSigned.port } });
  assert.ok(performance.now() - t0 < 6_000);
  const by = Object.fromEntries(results.map((r) => [r.endpoint, r]));
  assert.deepEqual(results.map((r) => r.endpoint), ['ssm', 'ec2messages', 'ssmmessages', 's3']);
  assert.equal(by.ssm?.ok, true, JSON.stringify(by.ssm));
  assert.equal(by.ssm?.via, 'proxy');
  assert.equal(by.ec2messages?.via, 'direct', '127.0.0.0/8 in no_proxy');
  assert.equal(by.ec2messages?.reason, 'tcp_refused');
  assert.equal(by.ssmmessages?.via, 'direct');
  assert.equal(by.ssmmessages?.reason, 'dns');
  assert.equal(by.s3?.via, 'proxy');
  assert.equal(by.s3?.reason, 'tls_untrusted');
  assert.deepEqual(authProxy.connectTargets().slice(before).sort(), [`localhost:${good.port}`, `localhost:${selfSigned.port}`].sort());

  const registry = new Registry();
  const metrics = registerProbeMetrics(registry);
  metrics.update(results);
  // A second cycle where ssm goes direct (no proxy): its stale via="proxy" series must go.
  metrics.update(await probeAll({ ...config, proxy: { noProxy: [] } }, { caFile: ca.certFile, ports: { ssm: good.port, ec2messages: refusedPort, s3: selfSigned.port } }));
  const text = await registry.metrics();
  assert.match(text, /ssm_endpoint_up\{endpoint="ssm",host="localhost",via="direct"\} 1/);
  assert.doesNotMatch(text, /ssm_endpoint_up\{endpoint="ssm",host="localhost",via="proxy"\}/);
  assert.match(text, /ssm_endpoint_probe_failures_total\{endpoint="s3",reason="tls_untrusted"\} 2/);
  assert.match(text, /ssm_endpoint_probe_failures_total\{endpoint="ssmmessages",reason="dns"\} 2/);
  assert.match(text, /ssm_endpoint_probe_duration_seconds_count\{endpoint="ssm",phase="http"\} 2/);
  assert.match(text, /ssm_endpoint_last_success_timestamp_seconds\{endpoint="ssm"\} \d/);
  assert.ok(!text.includes(PASSWORD));

  assert.ok(existsSync(PROMTOOL), 'promtool is installed (Debian prometheus package)');
  const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'promtool reports nothing');
});

test('probeAll: the cycle deadline ends a probe stuck in a step, classified by that step', async () => {
  blackHole ??= await startBlackHole(dir);
  const config: ProbeConfig = {
    endpoints: { ssm: '127.0.0.1', ec2messages: 'localhost', ssmmessages: 'localhost', s3: 'localhost' },
    proxy: { noProxy: [] },
    connectivity: { intervalSeconds: 60, timeoutSeconds: 30 },
  };
  const t0 = performance.now();
  const results = await probeAll(config, {
    caFile: ca.certFile,
    totalTimeoutMs: 800,
    ports: { ssm: blackHole.port, ec2messages: silentTcp.port, ssmmessages: silentTls.port, s3: good.port },
  });
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= 750 && elapsed < 3_000, `took ${elapsed} ms`);
  assert.deepEqual(
    results.map((r) => [r.endpoint, r.reason ?? 'ok']),
    [
      ['ssm', 'tcp_timeout'],
      ['ec2messages', 'tls_handshake'],
      ['ssmmessages', 'http'],
      ['s3', 'ok'],
    ],
  );
  assert.match(results[0]?.message ?? '', /deadline/);
});
