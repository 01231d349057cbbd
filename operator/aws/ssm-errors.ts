// What an SSM call's failure was, as one short code: the service's error type (the `__type` of the answer, e.g.
// "ThrottlingException", "InvalidInstanceId"), or a transport class when no answer came. Pure.

/** the code of an error that carries no service answer: the connection failed or was reset */
export const NETWORK_ERROR = 'NetworkingError';
/** the request timed out on the client */
export const TIMEOUT_ERROR = 'TimeoutError';

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  $metadata?: unknown;
  $fault?: unknown;
}

/** The error code of a failed SSM call: the service's error type, TimeoutError, NetworkingError, or "Unknown". */
export function ssmErrorCode(err: unknown): string {
  if (err === null || typeof err !== 'object') return 'Unknown';
  const e = err as ErrorShape;
  const name = typeof e.name === 'string' ? e.name : '';
  // Service exceptions carry $fault ("client" | "server") and name = the error type the service answered with.
  if (e.$fault !== undefined && name !== '' && name !== 'Error') return name;
  if (name === 'TimeoutError' || e.code === 'ETIMEDOUT') return TIMEOUT_ERROR;
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return NETWORK_ERROR;
  return name !== '' && name !== 'Error' ? name : 'Unknown';
}

/** Whether `err` is an SSM service error of one of `codes`. */
export function isSsmError(err: unknown, ...codes: string[]): boolean {
  return codes.includes(ssmErrorCode(err));
}
