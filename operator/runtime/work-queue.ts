// A keyed work queue in the manner of client-go's: a key is queued at most once, never processed by two workers
// at once (a key added while processing runs again afterwards), failures back off per key, and an overall
// token bucket caps the retry rate.
import { backoffDelay } from '../lib/backoff.ts';

export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Overall retry rate limit (token bucket). */
  qps?: number;
  burst?: number;
  now?: () => number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly dueAt = new Map<string, number>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private tokens: number;
  private lastRefill: number;
  private readonly opts: Required<WorkQueueOptions>;

  constructor(opts: WorkQueueOptions = {}) {
    this.opts = { baseDelayMs: 50, maxDelayMs: 5 * 60_000, qps: 10, burst: 100, now: Date.now, ...opts };
    this.tokens = this.opts.burst;
    this.lastRefill = this.opts.now();
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    // The earliest request wins (as client-go's AddAfter): a slow periodic requeue must not swallow a sooner one.
    const due = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && (this.dueAt.get(key) ?? 0) <= due) return;
    clearTimeout(pending);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.dueAt.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
    this.dueAt.set(key, due);
  }

  /** Re-adds a failed key after its backoff, itself bounded by the overall rate limit. */
  addRateLimited(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.max(backoffDelay(failures, this.opts.baseDelayMs, this.opts.maxDelayMs, () => 1), this.bucketDelay());
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  get length(): number {
    return this.queue.length;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.dueAt.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private bucketDelay(): number {
    const now = this.opts.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.qps);
    this.lastRefill = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.opts.qps) * 1000);
  }
}
