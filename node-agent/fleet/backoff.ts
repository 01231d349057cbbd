// Delays between the fleet client's connection attempts.

export interface BackoffOptions {
  /** First delay (before jitter). Default 1 s. */
  initialMs?: number;
  /** Bound of the delay (before jitter). Default 60 s. */
  maxMs?: number;
  /**
   * After a lost connection, every retry is drawn from at least this window: when the operator restarts, all of a
   * cluster's agents lose it at once, and 5,000 of them spread over 20 s are ~250 handshakes and TokenReviews a
   * second instead of a stampede. Default 20 s, never more than maxMs.
   */
  reconnectWindowMs?: number;
}

/**
 * Delays between connection attempts: doubling from initialMs up to maxMs, with full jitter (each drawn from
 * [0, d]) so that agents that failed together do not retry together. lost() after a connection that was up ends,
 * reset() to start over from initialMs.
 */
export class ReconnectBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly windowMs: number;
  private readonly random: () => number;
  private failuresSoFar = 0;
  private floorMs = 0;

  constructor(opts: BackoffOptions = {}, random: () => number = Math.random) {
    this.initialMs = Math.max(1, opts.initialMs ?? 1_000);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? 60_000);
    this.windowMs = Math.min(this.maxMs, Math.max(0, opts.reconnectWindowMs ?? 20_000));
    this.random = random;
  }

  get failures(): number {
    return this.failuresSoFar;
  }

  next(): number {
    this.failuresSoFar++;
    const exp = Math.min(this.maxMs, Math.max(this.floorMs, this.initialMs * 2 ** (this.failuresSoFar - 1)));
    return Math.round(this.random() * exp);
  }

  /** A connection that was up ended: start over, with the retries spread over the reconnect window. */
  lost(): void {
    this.failuresSoFar = 0;
    this.floorMs = this.windowMs;
  }

  reset(): void {
    this.failuresSoFar = 0;
    this.floorMs = 0;
  }
}
