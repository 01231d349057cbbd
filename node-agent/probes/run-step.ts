// One bounded step of a probe: settles exactly once — with the body's result, the body's error, a timeout or a
// cancellation — and on timeout/cancellation runs the body's cleanup (which destroys its sockets).
import { PROBE_CODES, ProbeError } from './classify.ts';
import type { Step } from './types.ts';

export interface StepControls<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Runs `body` for at most `timeoutMs`. `what` names the step in messages ("TCP connect to 10.0.0.1:443").
 * `body` returns a cleanup called only when the step is abandoned (timeout or abort), not when it settles itself.
 */
export function runStep<T>(
  step: Step,
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  body: (controls: StepControls<T>) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ProbeError(step, PROBE_CODES.aborted, `${what}: cancelled before it started`));
      return;
    }
    let settled = false;
    let cleanup: (() => void) | undefined;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const abandon = (code: string, message: string): void => {
      if (!finish()) return;
      try {
        cleanup?.();
      } catch {
        // the step is being abandoned; its cleanup cannot fail it twice
      }
      reject(new ProbeError(step, code, message));
    };
    const onAbort = (): void => abandon(PROBE_CODES.aborted, `${what}: cancelled (the probe cycle's deadline passed)`);
    const timer = setTimeout(() => abandon(PROBE_CODES.timeout, `${what}: no answer within ${timeoutMs} ms`), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      cleanup = body({
        resolve: (value) => {
          if (finish()) resolve(value);
        },
        reject: (err) => {
          if (finish()) reject(err);
        },
      });
    } catch (err) {
      if (finish()) reject(err);
    }
  });
}
