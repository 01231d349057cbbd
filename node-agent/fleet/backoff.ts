// Delays between the fleet client's connection attempts.
import { backoffDelay } from '../../operator/runtime/backoff.ts';

export interface BackoffOptions {
  /** First delay (before jitter). Default 1 s. */
  initialMs?: number;
  /** Bound of the delay (before jitter). Default 60 s. */
  maxMs?: number;
}

/**
 * Delays between connection attempts: doubling from initialMs up to maxMs, each drawn from [d/2, d] so that a
 * thousand agents cut off by an operator restart do not come back in step. reset() after a good connection.
 */
export class ReconnectBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private failuresSoFar = 0;

  constructor(opts: BackoffOptions = {}, random: () => number = Math.random) {
    this.initialMs = Math.max(1, opts.initialMs ?? 1_000);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? 60_000);
    this.random = random;
  }

  get failures(): number {
    return this.failuresSoFar;
  }

  next(): number {
    this.failuresSoFar++;
    return backoffDelay(this.failuresSoFar, this.initialMs, this.maxMs, this.random);
  }

  reset(): void {
    this.failuresSoFar = 0;
  }
}
