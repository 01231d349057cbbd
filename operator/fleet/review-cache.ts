// TokenReview answers kept briefly by the token's SHA-256 (never the token itself): a reconnecting agent is not
// reviewed again within the window, and a refused token (a stale one an agent keeps sending, or an attacker's) is
// answered from here for a while instead of costing the API server another review. Bounded: when full, expired
// entries go first, then the oldest.
import { createHash } from 'node:crypto';
import type { IdentityResult } from './auth.ts';

interface CachedResult {
  result: IdentityResult;
  until: number;
}

export const REVIEW_CACHE_MAX = 10_000;

/** The `exp` of a JWT, in ms; only read after the API server accepted the token. */
export function tokenExpiryMs(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export const tokenKey = (token: string): string => createHash('sha256').update(token).digest('hex');

export class ReviewCache {
  private readonly entries = new Map<string, CachedResult>();
  private readonly ttlMs: number;
  private readonly failedTtlMs: number;
  private readonly max: number;

  /** `ttlMs` for accepted tokens, `failedTtlMs` for refused ones (0: refusals are not kept). */
  constructor(opts: { ttlMs: number; failedTtlMs: number; max?: number }) {
    this.ttlMs = opts.ttlMs;
    this.failedTtlMs = opts.failedTtlMs;
    this.max = opts.max ?? REVIEW_CACHE_MAX;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The answer for a token reviewed within its window (an accepted one never past the token's expiry). */
  get(key: string, now: number): IdentityResult | undefined {
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.result;
    if (hit) this.entries.delete(key);
    return undefined;
  }

  /** Remembers a review's answer. Only definite answers belong here, not a review that could not be made. */
  set(key: string, token: string, result: IdentityResult, now: number): void {
    const until = result.ok ? Math.min(now + this.ttlMs, tokenExpiryMs(token) ?? Infinity) : now + this.failedTtlMs;
    if (until <= now) return;
    if (this.entries.size >= this.max) this.prune(now);
    this.entries.set(key, { result, until });
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) if (entry.until <= now) this.entries.delete(key);
    // Still full: drop the oldest (Map keeps insertion order).
    for (const key of this.entries.keys()) {
      if (this.entries.size < this.max) break;
      this.entries.delete(key);
    }
  }
}
