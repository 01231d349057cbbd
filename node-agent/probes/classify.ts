// Failure classification: (step the probe was in, error code, direct or via proxy) → exactly one Reason. Pure.
import type { Reason, Step, Via } from './types.ts';
import { ReasonedError } from '../../operator/lib/errors.ts';

/** Codes the probe itself gives to its failures (beside Node's/OpenSSL's own error codes). */
export const PROBE_CODES = {
  /** the step did not finish within the configured timeout */
  timeout: 'PROBE_TIMEOUT',
  /** the whole probe was cancelled (probeAll's overall deadline, or the caller's signal) */
  aborted: 'PROBE_ABORTED',
  /** the proxy answered CONNECT with a non-2xx status */
  proxyStatus: 'PROXY_CONNECT_STATUS',
  /** the proxy answered CONNECT with 407 (or 401, as tinyproxy does to wrong credentials) */
  proxyAuth: 'PROXY_AUTH_REQUIRED',
  /** the proxy's answer to CONNECT was not HTTP, too long, or cut short */
  proxyBadResponse: 'PROXY_BAD_RESPONSE',
  /** the proxy URL cannot be used */
  proxyConfig: 'PROXY_CONFIG',
  /** the server's answer to GET was not an HTTP status line, or the connection closed first */
  httpBadResponse: 'HTTP_BAD_RESPONSE',
} as const;

/** Errors the probe raises: the step it failed in and a code for classify() (its reason); `cause` keeps the
 * socket's or OpenSSL's own error when there is one. */
export class ProbeError extends ReasonedError {
  readonly step: Step;
  constructor(step: Step, code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ProbeError';
    this.step = step;
  }
  get code(): string {
    return this.reason;
  }
}

const TIMEOUT_CODES = new Set<string>(['ETIMEDOUT', PROBE_CODES.timeout, PROBE_CODES.aborted]);

/**
 * Certificate verification failures (OpenSSL X509_V_ERR_* names as Node reports them, and Node's hostname check).
 * The probe finds most of these through `authorizationError` after the handshake, which makes every verification
 * failure tls_untrusted by construction; this list classifies the same codes when they arrive as thrown errors.
 */
export const CERT_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'EE_KEY_TOO_SMALL',
  'CA_KEY_TOO_SMALL',
  'CA_MD_TOO_WEAK',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The classification table:
 *
 * | step    | via    | code                                             | reason          |
 * |---------|--------|--------------------------------------------------|-----------------|
 * | dns     | direct | any (ENOTFOUND, EAI_AGAIN, ENODATA, timeout, …)   | dns             |
 * | dns     | proxy  | any (the proxy's own name does not resolve)      | proxy           |
 * | tcp     | direct | ETIMEDOUT, PROBE_TIMEOUT, PROBE_ABORTED          | tcp_timeout     |
 * | tcp     | direct | anything else (ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, EACCES, …) | tcp_refused |
 * | tcp     | proxy  | any (the proxy is unreachable)                   | proxy           |
 * | connect | proxy  | any (non-2xx, 407, bad answer, timeout, TLS to an https:// proxy) | proxy |
 * | tls     | any    | a CERT_VERIFY_CODES code                         | tls_untrusted   |
 * | tls     | any    | anything else (EPROTO, ECONNRESET, timeout, …)    | tls_handshake   |
 * | http    | any    | any                                              | http            |
 */
export function classify(step: Step, code: string, via: Via): Reason {
  switch (step) {
    case 'dns':
      return via === 'proxy' ? 'proxy' : 'dns';
    case 'tcp':
      if (via === 'proxy') return 'proxy';
      return TIMEOUT_CODES.has(code) ? 'tcp_timeout' : 'tcp_refused';
    case 'connect':
      return 'proxy';
    case 'tls':
      return CERT_VERIFY_CODES.has(code) ? 'tls_untrusted' : 'tls_handshake';
    case 'http':
      return 'http';
  }
}

/** The code of any thrown value: ProbeError's code, a Node/OpenSSL error's `code`, else 'UNKNOWN'. */
export function errorCode(err: unknown): string {
  if (err instanceof ProbeError) return err.code;
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return 'UNKNOWN';
}
