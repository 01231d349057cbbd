// AWS Signature Version 4 (AWS4-HMAC-SHA256), verified the way an AWS service does: rebuild the canonical request
// from what arrived, derive the signing key from the secret, recompute the signature and compare. Written from
// AWS's published algorithm, independently of the SDK's signer, and checked against AWS's test-suite vectors
// (test/unit/ssm-emulator-sigv4.test.ts). Pure: no I/O, the time is passed in.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS refuses a request whose date is more than 15 minutes away from its own clock. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

/** The errors AWS's request authentication answers with, before any operation runs. */
export type AuthErrorType =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'InvalidSignatureException'
  | 'UnrecognizedClientException';

export interface AuthFailure {
  ok: false;
  type: AuthErrorType;
  message: string;
  /** what the service computed, for a test's diagnostics (AWS does not return these from SSM) */
  canonicalRequest?: string;
  stringToSign?: string;
}

export interface AuthSuccess {
  ok: true;
  accessKeyId: string;
  region: string;
  signedHeaders: string[];
}

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
}

export const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key ' +
  'and signing method. Consult the service documentation for details.';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
}

/** RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, '%20'));
  } catch {
    return value;
  }
}

/** The path as received, dot segments removed, each segment encoded once more (every service but S3). */
export function canonicalUri(rawPath: string): string {
  const out: string[] = [];
  for (const segment of rawPath.split('/').slice(1)) {
    if (segment === '.') continue;
    if (segment === '..') {
      out.pop();
      continue;
    }
    out.push(uriEncode(segment));
  }
  return `/${out.join('/')}`;
}

/** Query parameters decoded, re-encoded, sorted by name then value. */
export function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  const pairs = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const k = eq < 0 ? p : p.slice(0, eq);
      const v = eq < 0 ? '' : p.slice(eq + 1);
      return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export type HeaderMap = Record<string, string | string[] | undefined>;

function headerValue(headers: HeaderMap, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== name) continue;
    if (v === undefined) return undefined;
    return (Array.isArray(v) ? v : [v]).map((x) => x.trim().replace(/\s+/g, ' ')).join(',');
  }
  return undefined;
}

export interface CanonicalInput {
  method: string;
  /** the request target as received: path and optional ?query, still percent-encoded */
  target: string;
  headers: HeaderMap;
  payloadHash: string;
}

export function canonicalRequest(input: CanonicalInput, signedHeaders: readonly string[]): string {
  const q = input.target.indexOf('?');
  const path = q < 0 ? input.target : input.target.slice(0, q);
  const query = q < 0 ? '' : input.target.slice(q + 1);
  const headerLines = signedHeaders.map((h) => `${h}:${headerValue(input.headers, h) ?? ''}\n`).join('');
  return [input.method.toUpperCase(), canonicalUri(path || '/'), canonicalQuery(query), headerLines, signedHeaders.join(';'), input.payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

export function parseAuthorization(value: string): ParsedAuthorization | AuthFailure {
  const trimmed = value.trim();
  const space = trimmed.indexOf(' ');
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return { ok: false, type: 'IncompleteSignatureException', message: `Unsupported AWS 'algorithm': '${algorithm}'.` };
  }
  const params = new Map<string, string>();
  for (const part of trimmed.slice(space + 1).split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) {
      return { ok: false, type: 'IncompleteSignatureException', message: `Invalid key=value pair (missing equal-sign) in Authorization header: '${p}'.` };
    }
    params.set(p.slice(0, eq), p.slice(eq + 1));
  }
  const missing = ['Credential', 'Signature', 'SignedHeaders'].filter((k) => !params.get(k));
  if (missing.length > 0) {
    return { ok: false, type: 'IncompleteSignatureException', message: missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ') };
  }
  const credential = (params.get('Credential') ?? '').split('/');
  if (credential.length !== 5 || credential.some((c) => c === '')) {
    return {
      ok: false,
      type: 'IncompleteSignatureException',
      message: `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${params.get('Credential')}'.`,
    };
  }
  const [accessKeyId, date, region, service, terminator] = credential as [string, string, string, string, string];
  const signature = params.get('Signature') ?? '';
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    return { ok: false, type: 'IncompleteSignatureException', message: 'Signature must be 64 lowercase hexadecimal characters.' };
  }
  const signedHeaders = (params.get('SignedHeaders') ?? '').split(';');
  return { accessKeyId, date, region, service, terminator, signedHeaders, signature };
}

/** "20150830T123600Z" → Date, or undefined when malformed. */
export function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function formatAmzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

export interface VerifyRequest {
  method: string;
  target: string;
  headers: HeaderMap;
  body: Buffer;
}

export interface VerifyOptions {
  /** access key id → secret access key */
  credentials: ReadonlyMap<string, string>;
  region: string;
  service: string;
  /** the service's clock (wall time: a test that moves the emulator's business clock must not break signing) */
  now: Date;
}

const fail = (type: AuthErrorType, message: string): AuthFailure => ({ ok: false, type, message });

/** Authenticates one request: the structure of Authorization and X-Amz-Date, the scope, the skew, the key, the HMAC. */
export function verifySigV4(req: VerifyRequest, opts: VerifyOptions): AuthSuccess | AuthFailure {
  const authorization = headerValue(req.headers, 'authorization');
  if (authorization === undefined || authorization === '') {
    return fail('MissingAuthenticationTokenException', 'Request is missing Authentication Token');
  }
  const parsed = parseAuthorization(authorization);
  if ('ok' in parsed) return parsed;
  if (parsed.terminator !== 'aws4_request') {
    return fail('IncompleteSignatureException', `Credential should be scoped with a valid terminator: 'aws4_request', not '${parsed.terminator}'.`);
  }
  const amzDate = headerValue(req.headers, 'x-amz-date');
  if (amzDate === undefined) {
    return fail('IncompleteSignatureException', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  const when = parseAmzDate(amzDate);
  if (when === undefined) {
    return fail('IncompleteSignatureException', `X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', got '${amzDate}'.`);
  }
  if (amzDate.slice(0, 8) !== parsed.date) {
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.date}' != '${amzDate.slice(0, 8)}', from 'x-amz-date'.`,
    );
  }
  if (parsed.region !== opts.region) {
    return fail('InvalidSignatureException', `Credential should be scoped to a valid region, not '${parsed.region}'.`);
  }
  if (parsed.service !== opts.service) {
    return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${opts.service}'.`);
  }
  if (!parsed.signedHeaders.includes('host')) {
    return fail('InvalidSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (!parsed.signedHeaders.includes('x-amz-date')) {
    return fail('InvalidSignatureException', "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const sorted = [...parsed.signedHeaders].sort();
  if (sorted.join(';') !== parsed.signedHeaders.join(';') || parsed.signedHeaders.some((h) => h !== h.toLowerCase())) {
    return fail('InvalidSignatureException', SIGNATURE_MISMATCH);
  }
  const skew = when.getTime() - opts.now.getTime();
  if (skew < -MAX_SKEW_MS) {
    const limit = formatAmzDate(new Date(opts.now.getTime() - MAX_SKEW_MS));
    return fail('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than ${limit} (${formatAmzDate(opts.now)} - 15 min.)`);
  }
  if (skew > MAX_SKEW_MS) {
    const limit = formatAmzDate(new Date(opts.now.getTime() + MAX_SKEW_MS));
    return fail('InvalidSignatureException', `Signature not yet current: ${amzDate} is still later than ${limit} (${formatAmzDate(opts.now)} + 15 min.)`);
  }
  const secret = opts.credentials.get(parsed.accessKeyId);
  if (secret === undefined) {
    return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const canonical = canonicalRequest({ method: req.method, target: req.target, headers: req.headers, payloadHash: sha256Hex(req.body) }, parsed.signedHeaders);
  const scope = `${parsed.date}/${parsed.region}/${parsed.service}/aws4_request`;
  const toSign = stringToSign(amzDate, scope, canonical);
  const expected = createHmac('sha256', signingKey(secret, parsed.date, parsed.region, parsed.service)).update(toSign, 'utf8').digest();
  const given = Buffer.from(parsed.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, type: 'InvalidSignatureException', message: SIGNATURE_MISMATCH, canonicalRequest: canonical, stringToSign: toSign };
  }
  return { ok: true, accessKeyId: parsed.accessKeyId, region: parsed.region, signedHeaders: parsed.signedHeaders };
}

/** Signs headers the way a client does (for the emulator's own tests and tools; the operator uses the SDK). */
export function signHeaders(
  req: { method: string; target: string; headers: Record<string, string>; body: Buffer | string },
  creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  region: string,
  service: string,
  now: Date,
): Record<string, string> {
  const amzDate = formatAmzDate(now);
  const headers: Record<string, string> = { ...req.headers, 'x-amz-date': amzDate };
  if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken;
  const signed = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .sort();
  const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body;
  const canonical = canonicalRequest({ method: req.method, target: req.target, headers, payloadHash: sha256Hex(body) }, signed);
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const signature = createHmac('sha256', signingKey(creds.secretAccessKey, date, region, service))
    .update(stringToSign(amzDate, scope, canonical), 'utf8')
    .digest('hex');
  return { ...headers, authorization: `${ALGORITHM} Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}` };
}
