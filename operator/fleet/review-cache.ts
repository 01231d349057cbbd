// TokenReview answers kept briefly by the token's SHA-256 (never the token itself), so that a reconnecting agent is
// not reviewed again within the window. Bounded: when full, expired entries go first, then the oldest.
import { createHash } from 'node:crypto';
import type { AgentIdentity } from './auth.ts';

interface CachedIdentity {
  identity: AgentIdentity;
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
  private readonly entries = new Map<string, CachedIdentity>();
  private readonly ttlMs: number;
  private readonly max: number;

  constructor(opts: { ttlMs: number; max?: number }) {
    this.ttlMs = opts.ttlMs;
    this.max = opts.max ?? REVIEW_CACHE_MAX;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The identity of a token accepted within the window (and not past its expiry). */
  get(key: string, now: number): AgentIdentity | undefined {
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.identity;
    if (hit) this.entries.delete(key);
    return undefined;
  }

  /** Remembers an accepted token, never past its own expiry. */
  set(key: string, token: string, identity: AgentIdentity, now: number): void {
    const until = Math.min(now + this.ttlMs, tokenExpiryMs(token) ?? Infinity);
    if (this.entries.size >= this.max) this.prune(now);
    this.entries.set(key, { identity, until });
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
