// Delays between the fleet client's connection attempts.
import { backoffDelay } from '../../operator/lib/backoff.ts';
import { FLEET_RECONNECT_WINDOW_MS } from '../../operator/api/fleet-protocol.ts';

export interface BackoffOptions {
  /** First delay (before jitter). Default 1 s. */
  initialMs?: number;
  /** Bound of the delay (before jitter). Default 60 s. */
  maxMs?: number;
  /**
   * After a lost connection, the first retry is drawn from this window: when the operator restarts, all of a
   * cluster's agents lose it at once, and 5,000 of them spread over 20 s are ~250 handshakes and TokenReviews a
   * second instead of a stampede. Default 20 s, never more than maxMs.
   */
  reconnectWindowMs?: number;
}

/**
 * Delays between connection attempts. The first after a lost connection (lost()) has full jitter over the reconnect
 * window, [0, window]: that is what spreads a cluster's agents after an operator restart. The ones after it, and
 * every one of an agent that never connected, double from initialMs up to maxMs, each drawn from [d/2, d], so
 * that agents that failed together drift apart while an agent's retries per minute stay bounded. reset() starts
 * over from initialMs without the window.
 */
export class ReconnectBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly windowMs: number;
  private readonly random: () => number;
  private failuresSoFar = 0;
  private spreadNext = false;

  constructor(opts: BackoffOptions = {}, random: () => number = Math.random) {
    this.initialMs = Math.max(1, opts.initialMs ?? 1_000);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? 60_000);
    this.windowMs = Math.min(this.maxMs, Math.max(0, opts.reconnectWindowMs ?? FLEET_RECONNECT_WINDOW_MS));
    this.random = random;
  }

  get failures(): number {
    return this.failuresSoFar;
  }

  next(): number {
    if (this.spreadNext) {
      this.spreadNext = false;
      return Math.round(this.random() * this.windowMs);
    }
    this.failuresSoFar++;
    return backoffDelay(this.failuresSoFar, this.initialMs, this.maxMs, this.random);
  }

  /** A connection that was up ended: the next delay is spread over the reconnect window, then start over. */
  lost(): void {
    this.failuresSoFar = 0;
    this.spreadNext = true;
  }

  reset(): void {
    this.failuresSoFar = 0;
    this.spreadNext = false;
  }
}
