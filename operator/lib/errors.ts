// The one error style of both processes: a failure is a ReasonedError — a machine-readable reason (the CamelCase
// code conditions, metrics and readiness carry, e.g. InstallFailed, MirrorCaInvalid, DownloadFailed), a message a
// person can act on, and the underlying error as the standard `cause`. It is thrown inside a unit of work and
// caught once, at the edge that reports it; where a failure is data (a value resolved once and read later, one
// result among many) it is returned as the failed arm of a Result, which is the same object (ok: false).

/** A failure with a reason a machine can match and a message a person can act on; `cause` keeps the error beneath. */
export class ReasonedError<R extends string = string> extends Error {
  /** Lets the error itself be the failed arm of a Result (see Result). */
  readonly ok = false as const;
  readonly reason: R;
  constructor(reason: R, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReasonedError';
    this.reason = reason;
  }
}

/** What a function returns when its failure is data: its value's fields, or the ReasonedError that says why not. */
export type Result<T extends object, R extends string = string, E extends ReasonedError<R> = ReasonedError<R>> = ({ ok: true } & T) | E;

/** The reason of any thrown value: a ReasonedError's own, else `fallback` (a foreign error has no reason). */
export function reasonOf(err: unknown, fallback: string): string {
  return err instanceof ReasonedError ? err.reason : fallback;
}

/** An error as one line, with its cause (fetch and the SDK wrap the socket error that says what happened). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
