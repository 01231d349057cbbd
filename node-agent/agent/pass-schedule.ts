// When the next pass over the host comes. Pure. A converged host is looked at again after the pass interval. One
// that is not (a download reset, a held dpkg lock) is retried after about 15 s, doubling up to the interval:
// waiting the whole interval would hold a rollout, which waits for this pod to be ready, for minutes over a
// transient error. The steps keep their own backoff (the install step's, for instance) on top of this.
import { backoffDelay } from '../../operator/lib/backoff.ts';

export const RETRY_INITIAL_MS = 15_000;

/** `unconvergedPasses`: how many passes in a row left the host unconverged (0 after a converged one). */
export function nextPassDelayMs(unconvergedPasses: number, passIntervalMs: number, random: () => number = Math.random): number {
  if (unconvergedPasses <= 0) return passIntervalMs;
  return Math.min(passIntervalMs, backoffDelay(unconvergedPasses, RETRY_INITIAL_MS, passIntervalMs, random));
}
