// Token buckets for the fleet server: one per connection (messages) and one per source address (failed
// authentications). Pure: the caller passes the time.

export interface RateLimit {
  /** Events allowed at once. */
  burst: number;
  /** Events allowed per second after the burst. */
  perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;
  private readonly limit: RateLimit;

  constructor(limit: RateLimit, now: number) {
    this.limit = limit;
    this.tokens = limit.burst;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) / 1000) * this.limit.perSecond);
    this.at = now;
  }

  /** Whether one more event fits now (and counts it when it does). */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether an event would fit now, without counting one. */
  allows(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  /** Full again: forgetting the bucket changes nothing. */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst;
  }
}

/** Buckets by key (a source address), at most `maxKeys` of them; full buckets are forgotten first. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly limit: RateLimit;
  private readonly maxKeys: number;

  constructor(limit: RateLimit, maxKeys = 10_000) {
    this.limit = limit;
    this.maxKeys = maxKeys;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Whether `key` has room for one more event now (nothing is counted). */
  allows(key: string, now: number): boolean {
    return this.buckets.get(key)?.allows(now) ?? true;
  }

  /** Counts one event of `key`; false when it was over its budget. */
  take(key: string, now: number): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      bucket = new TokenBucket(this.limit, now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.full(now)) this.buckets.delete(key);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
