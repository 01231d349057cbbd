// The emulator's SigV4 verifier: AWS's published test-suite vectors (get-vanilla, get-vanilla-query-order-key-case,
// post-vanilla: credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830T123600Z, us-east-1,
// service "service"), requests signed by the SDK's own signer, and each refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  formatAmzDate,
  parseAmzDate,
  parseAuthorization,
  sha256Hex,
  signHeaders,
  verifySigV4,
  type VerifyRequest,
} from '../servers/ssm-emulator/sigv4.ts';
import { sdkSignedHeaders } from '../servers/ssm-emulator/sdk-signer.ts';

const SUITE = {
  credentials: new Map([['AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY']]),
  region: 'us-east-1',
  service: 'service',
  now: new Date('2015-08-30T12:36:00Z'),
};
const SCOPE = 'AKIDEXAMPLE/20150830/us-east-1/service/aws4_request';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function suiteRequest(method: string, target: string, signature: string): VerifyRequest {
  return {
    method,
    target,
    headers: {
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      authorization: `AWS4-HMAC-SHA256 Credential=${SCOPE}, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    },
    body: Buffer.alloc(0),
  };
}

test('AWS test suite: get-vanilla canonical request and signature', () => {
  const canonical = canonicalRequest(
    { method: 'GET', target: '/', headers: { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' }, payloadHash: sha256Hex('') },
    ['host', 'x-amz-date'],
  );
  assert.equal(canonical, `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${EMPTY_SHA256}`);
  const r = verifySigV4(suiteRequest('GET', '/', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'), SUITE);
  assert.deepEqual(r, { ok: true, accessKeyId: 'AKIDEXAMPLE', region: 'us-east-1', signedHeaders: ['host', 'x-amz-date'] });
});

test('AWS test suite: get-vanilla-query-order-key-case and post-vanilla', () => {
  const query = verifySigV4(suiteRequest('GET', '/?Param2=value2&Param1=value1', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'), SUITE);
  assert.equal(query.ok, true, JSON.stringify(query));
  const post = verifySigV4(suiteRequest('POST', '/', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'), SUITE);
  assert.equal(post.ok, true, JSON.stringify(post));
  // One bit off: refused with AWS's wording.
  const bad = verifySigV4(suiteRequest('POST', '/', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6c'), SUITE);
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.type, 'InvalidSignatureException');
});

test('canonical pieces: query sorted and encoded, dot segments removed, header values trimmed', () => {
  assert.equal(canonicalQuery('b=2&a=1&A=0&a=0'), 'A=0&a=0&a=1&b=2');
  assert.equal(canonicalQuery('k=a b&x=%2F'), 'k=a%20b&x=%2F');
  assert.equal(canonicalUri('/a/./b/../c'), '/a/c');
  assert.equal(canonicalUri('/'), '/');
  const c = canonicalRequest({ method: 'post', target: '/', headers: { 'X-Amz-Date': '  a   b ', Host: 'h' }, payloadHash: 'p' }, ['host', 'x-amz-date']);
  assert.equal(c, 'POST\n/\n\nhost:h\nx-amz-date:a b\n\nhost;x-amz-date\np');
  assert.equal(formatAmzDate(new Date('2015-08-30T12:36:00.123Z')), '20150830T123600Z');
  assert.equal(parseAmzDate('20150830T123600Z')?.toISOString(), '2015-08-30T12:36:00.000Z');
  assert.equal(parseAmzDate('2015-08-30T12:36:00Z'), undefined);
});

const EMU = {
  credentials: new Map([['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']]),
  region: 'eu-central-1',
  service: 'ssm',
};
const CREDS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const AT = new Date('2024-05-01T10:00:00Z');
const BODY = '{"Filters":[{"FilterKey":"ActivationIds","FilterValues":["x"]}]}';

async function sdkRequest(opts: { body?: string; query?: Record<string, string>; sessionToken?: string } = {}): Promise<VerifyRequest> {
  const headers = await sdkSignedHeaders({
    url: 'http://127.0.0.1:4566',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.DescribeActivations' },
    query: opts.query ?? {},
    body: opts.body ?? BODY,
    credentials: { ...CREDS, ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}) },
    region: EMU.region,
    signingDate: AT,
  });
  const qs = new URLSearchParams(opts.query ?? {}).toString();
  return { method: 'POST', target: qs ? `/?${qs}` : '/', headers, body: Buffer.from(opts.body ?? BODY) };
}

test("requests signed by the SDK's signer verify; with a query and a session token too", async () => {
  const plain = verifySigV4(await sdkRequest(), { ...EMU, now: AT });
  assert.equal(plain.ok, true, JSON.stringify(plain));
  const withQuery = verifySigV4(await sdkRequest({ query: { b: 'x y', a: '1' }, sessionToken: 'tok' }), { ...EMU, now: AT });
  assert.equal(withQuery.ok, true, JSON.stringify(withQuery));
  // and the emulator's own signer agrees with the SDK's
  const mine = signHeaders(
    { method: 'POST', target: '/', headers: { host: '127.0.0.1:4566', 'content-type': 'application/x-amz-json-1.1' }, body: BODY },
    CREDS,
    EMU.region,
    'ssm',
    AT,
  );
  assert.equal(verifySigV4({ method: 'POST', target: '/', headers: mine, body: Buffer.from(BODY) }, { ...EMU, now: AT }).ok, true);
});

test('refusals: tampered body, wrong scope, skew, unknown key, missing pieces', async () => {
  const req = await sdkRequest();
  const check = (r: VerifyRequest, now = AT) => {
    const v = verifySigV4(r, { ...EMU, now });
    return v.ok ? 'ok' : `${v.type}: ${v.message}`;
  };
  assert.match(check({ ...req, body: Buffer.from(BODY.replace('x', 'y')) }), /^InvalidSignatureException: The request signature we calculated/);
  assert.match(check({ ...req, headers: { ...req.headers, 'x-amz-target': 'AmazonSSM.DeleteActivation' } }), /^InvalidSignatureException/);
  assert.match(check(req, new Date(AT.getTime() + 16 * 60_000)), /^InvalidSignatureException: Signature expired: 20240501T100000Z is now earlier than 20240501T100100Z/);
  assert.match(check(req, new Date(AT.getTime() - 16 * 60_000)), /^InvalidSignatureException: Signature not yet current/);
  assert.equal(check(req, new Date(AT.getTime() + 14 * 60_000)), 'ok');
  const auth = String(req.headers.authorization);
  const withAuth = (a: string) => ({ ...req, headers: { ...req.headers, authorization: a } });
  assert.match(check(withAuth(auth.replace('eu-central-1', 'us-east-1'))), /^InvalidSignatureException: Credential should be scoped to a valid region, not 'us-east-1'/);
  assert.match(check(withAuth(auth.replace('/ssm/', '/ec2/'))), /^InvalidSignatureException: Credential should be scoped to correct service: 'ssm'/);
  assert.match(check(withAuth(auth.replace('AKIAIOSFODNN7EXAMPLE', 'AKIAOTHERKEY00000000'))), /^UnrecognizedClientException: The security token included in the request is invalid/);
  assert.match(check(withAuth(auth.replace('20240501', '20240502'))), /^InvalidSignatureException: Date in Credential scope does not match/);
  assert.match(check(withAuth(auth.replace(/SignedHeaders=[^,]*/, 'SignedHeaders=content-type;x-amz-date'))), /'Host' or ':authority' must be a 'SignedHeader'/);
  assert.match(check(withAuth(auth.replace(/, Signature=.*/, ''))), /^IncompleteSignatureException: Authorization header requires 'Signature' parameter/);
  assert.match(check(withAuth('Bearer abc')), /^IncompleteSignatureException/);
  const { authorization: _a, ...noAuth } = req.headers;
  assert.match(check({ ...req, headers: noAuth }), /^MissingAuthenticationTokenException/);
  const { 'x-amz-date': _d, ...noDate } = req.headers;
  assert.match(check({ ...req, headers: noDate }), /^IncompleteSignatureException: Authorization header requires existence of either a 'X-Amz-Date'/);
});

test('parseAuthorization reads the three parameters', () => {
  const p = parseAuthorization(`AWS4-HMAC-SHA256 Credential=${SCOPE},SignedHeaders=host;x-amz-date,Signature=${'a'.repeat(64)}`);
  assert.ok(!('ok' in p));
  assert.equal(p.accessKeyId, 'AKIDEXAMPLE');
  assert.equal(p.date, '20150830');
  assert.equal(p.service, 'service');
  assert.deepEqual(p.signedHeaders, ['host', 'x-amz-date']);
});
