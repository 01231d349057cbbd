// The managed instance's own authentication, as the real agent signs RequestManagedInstanceRoleToken (read in
// aws/amazon-ssm-agent, agent/ssm/rsaauth/ssm_rsaV4.go and agent/managedInstances/auth/rsa_key.go): a SigV4
// canonical request and string to sign, but the "signature" is RSASSA-PSS (SHA-256, 32-byte salt) of the string to
// sign with the instance's registration key, base64, in the usual Authorization header:
//   AWS4-HMAC-SHA256 Credential=<mi-id>/<date>/<region>/ssm/aws4_request, SignedHeaders=…, Signature=<base64>
// Every header but Authorization and User-Agent is signed. The emulator verifies it against the public key the
// instance registered with. Pure: no I/O, the time is passed in.
import { constants, createPublicKey, verify } from 'node:crypto';
import { canonicalRequest, formatAmzDate, MAX_SKEW_MS, parseAmzDate, sha256Hex, SIGNATURE_MISMATCH, stringToSign, type HeaderMap } from './sigv4.ts';
import type { AuthFailure } from './sigv4.ts';

export interface RsaAuthSuccess {
  ok: true;
  instanceId: string;
}

export interface RsaVerifyOptions {
  /** the instance's registered public key (base64 PKIX DER), or undefined when no such instance */
  publicKeyOf(instanceId: string): string | undefined;
  region: string;
  now: Date;
}

const fail = (type: AuthFailure['type'], message: string): AuthFailure => ({ ok: false, type, message });

function header(headers: HeaderMap, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v.join(',') : v;
  return undefined;
}

/** Whether an Authorization header carries an RSA (base64) rather than an HMAC (64 hex digits) signature. */
export function isRsaAuthorization(value: string | undefined): boolean {
  const sig = /Signature=([^,\s]+)/.exec(value ?? '')?.[1];
  return sig !== undefined && !/^[0-9a-f]{64}$/.test(sig);
}

export function verifyRsaSignature(req: { method: string; target: string; headers: HeaderMap; body: Buffer }, opts: RsaVerifyOptions): RsaAuthSuccess | AuthFailure {
  const authorization = header(req.headers, 'authorization');
  if (!authorization) return fail('MissingAuthenticationTokenException', 'Request is missing Authentication Token');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([A-Za-z0-9+/=]+)$/.exec(authorization.trim());
  if (!m) return fail('IncompleteSignatureException', 'Authorization header is not a managed instance signature.');
  const [, instanceId, date, region, service, signedList, signature] = m as unknown as [string, string, string, string, string, string, string];
  const amzDate = header(req.headers, 'x-amz-date') ?? '';
  const when = parseAmzDate(amzDate);
  if (!when || amzDate.slice(0, 8) !== date) return fail('IncompleteSignatureException', `X-Amz-Date '${amzDate}' does not match the credential scope date '${date}'.`);
  if (region !== opts.region) return fail('InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'.`);
  if (service !== 'ssm') return fail('InvalidSignatureException', "Credential should be scoped to correct service: 'ssm'.");
  if (Math.abs(when.getTime() - opts.now.getTime()) > MAX_SKEW_MS) {
    return fail('InvalidSignatureException', `Signature expired: ${amzDate} is more than 15 min away from ${formatAmzDate(opts.now)}.`);
  }
  const signedHeaders = signedList.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) return fail('InvalidSignatureException', SIGNATURE_MISMATCH);
  const publicKey = opts.publicKeyOf(instanceId);
  if (publicKey === undefined) return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  const canonical = canonicalRequest({ method: req.method, target: req.target, headers: req.headers, payloadHash: sha256Hex(req.body) }, signedHeaders);
  const toSign = stringToSign(amzDate, `${date}/${region}/${service}/aws4_request`, canonical);
  let valid = false;
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
    valid = verify('sha256', Buffer.from(toSign, 'utf8'), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, Buffer.from(signature, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, type: 'InvalidSignatureException', message: SIGNATURE_MISMATCH, canonicalRequest: canonical, stringToSign: toSign };
  return { ok: true, instanceId };
}
