// The awsJson 1.1 wire format as SSM speaks it: POST / with `Content-Type: application/x-amz-json-1.1` and
// `X-Amz-Target: AmazonSSM.<Operation>`; answers are JSON with the same content type and an `x-amzn-RequestId`;
// errors are `{"__type": "...", "message": "..."}` with the HTTP status of the error and an `x-amzn-ErrorType`
// header (the SDK reads `__type` first, then `code`, then that header, and strips any `namespace#` prefix and
// `:uri` suffix). Timestamps are epoch seconds (JSON numbers).
export const CONTENT_TYPE = 'application/x-amz-json-1.1';
export const TARGET_PREFIX = 'AmazonSSM.';

export type SsmErrorType =
  // the service's own, as modelled in the SSM API
  | 'ActivationExpired'
  | 'InstanceAlreadyRegistered'
  | 'InternalServerError'
  | 'InvalidActivation'
  | 'InvalidActivationId'
  | 'InvalidFilter'
  | 'InvalidFilterKey'
  | 'InvalidInstanceId'
  | 'InvalidInstanceInformationFilterValue'
  | 'InvalidNextToken'
  | 'InvalidParameters'
  | 'InvalidPublicKey'
  | 'InvalidResourceId'
  | 'InvalidResourceType'
  | 'MachineFingerprintDoesNotMatch'
  | 'RegistrationLimitExceeded'
  | 'TooManyTagsError'
  | 'TooManyUpdates'
  // the framework's, common to AWS JSON services
  | 'ThrottlingException'
  | 'ValidationException'
  | 'SerializationException'
  | 'UnknownOperationException'
  | 'ServiceUnavailable'
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'InvalidSignatureException'
  | 'UnrecognizedClientException'
  | 'AccessDeniedException'
  | 'ExpiredTokenException';

/** Errors the request framework raises (rather than SSM itself) carry the coral namespace in `__type`. */
const FRAMEWORK_ERRORS: ReadonlySet<SsmErrorType> = new Set([
  'MissingAuthenticationTokenException',
  'UnknownOperationException',
  'SerializationException',
  'ExpiredTokenException',
]);

export class SsmError extends Error {
  readonly type: SsmErrorType;
  readonly status: number;
  constructor(type: SsmErrorType, message: string, status = type === 'InternalServerError' ? 500 : type === 'ServiceUnavailable' ? 503 : 400) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
  }
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function okResponse(output: unknown, requestId: string): WireResponse {
  return { status: 200, headers: { 'content-type': CONTENT_TYPE, 'x-amzn-requestid': requestId }, body: JSON.stringify(output) };
}

export function errorResponse(err: SsmError, requestId: string): WireResponse {
  const framework = FRAMEWORK_ERRORS.has(err.type);
  const type = framework ? `com.amazon.coral.service#${err.type}` : err.type;
  const namespace = framework ? 'com.amazon.coral.service' : 'com.amazonaws.ssm';
  const body: Record<string, string> = { __type: type };
  if (err.message !== '') body.message = err.message;
  return {
    status: err.status,
    headers: {
      'content-type': CONTENT_TYPE,
      'x-amzn-requestid': requestId,
      'x-amzn-errortype': `${err.type}:http://internal.amazon.com/coral/${namespace}/`,
    },
    body: JSON.stringify(body),
  };
}

/** Date → epoch seconds with millisecond precision, as AWS JSON protocols send timestamps. */
export function epochSeconds(d: Date): number {
  return Math.round(d.getTime()) / 1000;
}

/** A JSON timestamp (epoch seconds; the SDK always sends numbers) → Date. */
export function parseTimestamp(value: unknown): Date | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value * 1000);
  if (typeof value === 'string' && value !== '' && !Number.isNaN(Date.parse(value))) return new Date(value);
  return undefined;
}
