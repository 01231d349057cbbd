import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CERT_VERIFY_CODES, PROBE_CODES, ProbeError, classify, errorCode } from '../../node-agent/probes/classify.ts';
import { authority, parseStatusLine, printable } from '../../node-agent/probes/http-head.ts';
import { parseProxyUrl } from '../../node-agent/probes/proxy-url.ts';
import { runStep } from '../../node-agent/probes/run-step.ts';
import type { Reason, Step, Via } from '../../node-agent/probes/types.ts';

// [step, code, via, reason]
const table: [Step, string, Via, Reason][] = [
  ['dns', 'ENOTFOUND', 'direct', 'dns'],
  ['dns', 'EAI_AGAIN', 'direct', 'dns'],
  ['dns', 'ENODATA', 'direct', 'dns'],
  ['dns', PROBE_CODES.timeout, 'direct', 'dns'],
  ['dns', 'ENOTFOUND', 'proxy', 'proxy'],
  ['tcp', 'ETIMEDOUT', 'direct', 'tcp_timeout'],
  ['tcp', PROBE_CODES.timeout, 'direct', 'tcp_timeout'],
  ['tcp', PROBE_CODES.aborted, 'direct', 'tcp_timeout'],
  ['tcp', 'ECONNREFUSED', 'direct', 'tcp_refused'],
  ['tcp', 'ECONNRESET', 'direct', 'tcp_refused'],
  ['tcp', 'EHOSTUNREACH', 'direct', 'tcp_refused'],
  ['tcp', 'ENETUNREACH', 'direct', 'tcp_refused'],
  ['tcp', 'EADDRNOTAVAIL', 'direct', 'tcp_refused'],
  ['tcp', 'ECONNREFUSED', 'proxy', 'proxy'],
  ['tcp', 'ETIMEDOUT', 'proxy', 'proxy'],
  ['connect', PROBE_CODES.proxyStatus, 'proxy', 'proxy'],
  ['connect', PROBE_CODES.proxyAuth, 'proxy', 'proxy'],
  ['connect', PROBE_CODES.proxyBadResponse, 'proxy', 'proxy'],
  ['connect', PROBE_CODES.timeout, 'proxy', 'proxy'],
  ['connect', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'proxy', 'proxy'], // the https:// proxy's own certificate
  ['tls', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'direct', 'tls_untrusted'],
  ['tls', 'SELF_SIGNED_CERT_IN_CHAIN', 'proxy', 'tls_untrusted'],
  ['tls', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'direct', 'tls_untrusted'],
  ['tls', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'direct', 'tls_untrusted'],
  ['tls', 'CERT_HAS_EXPIRED', 'direct', 'tls_untrusted'],
  ['tls', 'CERT_NOT_YET_VALID', 'direct', 'tls_untrusted'],
  ['tls', 'ERR_TLS_CERT_ALTNAME_INVALID', 'direct', 'tls_untrusted'],
  ['tls', 'HOSTNAME_MISMATCH', 'direct', 'tls_untrusted'],
  ['tls', 'ERR_SSL_WRONG_VERSION_NUMBER', 'direct', 'tls_handshake'],
  ['tls', 'EPROTO', 'direct', 'tls_handshake'],
  ['tls', 'ECONNRESET', 'direct', 'tls_handshake'],
  ['tls', PROBE_CODES.timeout, 'direct', 'tls_handshake'],
  ['tls', 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'direct', 'tls_handshake'],
  ['http', PROBE_CODES.timeout, 'direct', 'http'],
  ['http', PROBE_CODES.httpBadResponse, 'proxy', 'http'],
  ['http', 'ECONNRESET', 'direct', 'http'],
];

for (const [step, code, via, reason] of table) {
  test(`classify: ${code} in ${step} (${via}) → ${reason}`, () => assert.equal(classify(step, code, via), reason));
}

test('every certificate verification code is tls_untrusted, never tls_handshake', () => {
  for (const code of CERT_VERIFY_CODES) assert.equal(classify('tls', code, 'direct'), 'tls_untrusted', code);
});

test('errorCode reads ProbeError, Node errors and anything else', () => {
  assert.equal(errorCode(new ProbeError('tcp', 'X', 'm')), 'X');
  assert.equal(errorCode(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' })), 'ETIMEDOUT');
  assert.equal(errorCode(new Error('plain')), 'UNKNOWN');
  assert.equal(errorCode('text'), 'UNKNOWN');
  assert.equal(errorCode({ code: 7 }), 'UNKNOWN');
});

test('parseProxyUrl: credentials become a Basic header and are kept out of display', () => {
  const p = parseProxyUrl('http://us%40er:p%3Ass@proxy.corp:3128/');
  assert.ok(p.ok);
  assert.equal(p.proxy.host, 'proxy.corp');
  assert.equal(p.proxy.port, 3128);
  assert.equal(p.proxy.protocol, 'http');
  assert.equal(p.proxy.display, 'http://proxy.corp:3128');
  assert.equal(p.proxy.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
  assert.ok(!JSON.stringify({ ...p.proxy, authorization: undefined }).includes('p:ss'));
});

test('parseProxyUrl: defaults and forms', () => {
  const bare = parseProxyUrl('proxy.corp:8080');
  assert.ok(bare.ok && bare.proxy.protocol === 'http' && bare.proxy.port === 8080 && bare.proxy.authorization === undefined);
  const http = parseProxyUrl('HTTP://Proxy.Corp');
  assert.ok(http.ok && http.proxy.port === 80 && http.proxy.host === 'proxy.corp');
  const https = parseProxyUrl('https://proxy.corp');
  assert.ok(https.ok && https.proxy.protocol === 'https' && https.proxy.port === 443);
  const v6 = parseProxyUrl('http://[fd00::1]:3128');
  assert.ok(v6.ok && v6.proxy.host === 'fd00::1' && v6.proxy.display === 'http://[fd00::1]:3128');
  const userOnly = parseProxyUrl('http://token@proxy:3128');
  assert.ok(userOnly.ok && userOnly.proxy.authorization === `Basic ${Buffer.from('token:').toString('base64')}`);
});

test('parseProxyUrl: errors never repeat the URL', () => {
  for (const bad of ['socks5://u:hunter2@proxy:1080', 'http://u:hunter2@', '', 'http://u:%E0%A4%A@proxy:1']) {
    const p = parseProxyUrl(bad);
    assert.equal(p.ok, false, bad);
    if (!p.ok) assert.ok(!p.message.includes('hunter2') && !p.message.includes('%E0'), p.message);
    if (!p.ok) assert.equal(p.reason, 'ProxyUrlInvalid', bad);
  }
});

test('status lines', () => {
  assert.deepEqual(parseStatusLine('HTTP/1.1 200 Connection established'), { status: 200, text: 'HTTP/1.1 200 Connection established' });
  assert.equal(parseStatusLine('HTTP/1.0 407 Proxy Authentication Required')?.status, 407);
  assert.equal(parseStatusLine('HTTP/1.1 404')?.status, 404);
  assert.equal(parseStatusLine('HTTP/2 301 ')?.status, 301);
  for (const bad of ['', 'SSH-2.0-OpenSSH_9.2', 'HTTP/1.1 2000 OK', 'HTTP/1.1 099 x', 'http/1.1 200 OK', 'HTTP/1.1 200OK']) {
    assert.equal(parseStatusLine(bad), undefined, bad);
  }
  assert.equal(printable('a\u0000b\r\nc'), 'a b c');
  assert.equal(printable('x'.repeat(200), 10), `${'x'.repeat(10)}…`);
  assert.equal(authority('fd00::1', 443), '[fd00::1]:443');
  assert.equal(authority('ssm.us-east-1.amazonaws.com', 443), 'ssm.us-east-1.amazonaws.com:443');
});

test('runStep: a timeout runs the cleanup and names the step', async () => {
  let cleaned = false;
  const err = await runStep<number>('tls', 'TLS handshake with x', 20, undefined, () => () => {
    cleaned = true;
  }).catch((e: unknown) => e);
  assert.ok(err instanceof ProbeError);
  assert.equal(err.step, 'tls');
  assert.equal(err.code, PROBE_CODES.timeout);
  assert.match(err.message, /TLS handshake with x: no answer within 20 ms/);
  assert.equal(cleaned, true);
});

test('runStep: an abort ends the step at once; settling twice is ignored', async () => {
  const ac = new AbortController();
  const pending = runStep<number>('tcp', 'TCP connect', 60_000, ac.signal, () => () => undefined).catch((e: unknown) => e);
  ac.abort();
  const err = await pending;
  assert.ok(err instanceof ProbeError && err.code === PROBE_CODES.aborted);
  assert.equal(classify('tcp', errorCode(err), 'direct'), 'tcp_timeout');
  const value = await runStep<number>('http', 'GET', 1_000, undefined, ({ resolve, reject }) => {
    resolve(1);
    resolve(2);
    reject(new Error('late'));
    return () => assert.fail('no cleanup after settling');
  });
  assert.equal(value, 1);
  const already = await runStep<number>('dns', 'lookup', 1_000, AbortSignal.abort(), () => assert.fail('not started')).catch((e: unknown) => e);
  assert.ok(already instanceof ProbeError && already.code === PROBE_CODES.aborted);
});
