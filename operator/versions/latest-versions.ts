// What `latest` stands for, per config, looked up by the operator once for the whole fleet. Never waits in a
// reconcile: get() answers from the cache and starts a lookup when one is due; its end calls onChange (the work
// queue), and the reconcile asks to be requeued when the next lookup is due (addAfter: no second scheduler).
import type { LatestVersionRequest, TextFetcher } from '../api/latest-version.ts';
import { resolveLatestVersionWith } from '../api/latest-version.ts';
import { canonicalJson } from '../manifests/config-hash.ts';

export interface LatestAnswer {
  version?: string;
  resolvedAt?: string;
  /** Why the last lookup failed (the version above, if any, is from an earlier one). */
  error?: string;
  /** When the caller should look again. */
  nextCheckInMs: number;
}

interface Entry {
  source: string;
  version?: string;
  resolvedAt?: number;
  error?: string;
  checkedAt?: number;
  inFlight: boolean;
}

export interface LatestVersionsOptions {
  fetchText: TextFetcher;
  intervalMs: number;
  /** After a failure (default: a minute, at most intervalMs). */
  retryMs?: number;
  now?: () => number;
  onChange(config: string): void;
  onError?(config: string, message: string): void;
}

export class LatestVersions {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: LatestVersionsOptions;
  private readonly now: () => number;

  constructor(opts: LatestVersionsOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /**
   * `source` identifies where `latest` is read (region, mirror, s3 host, proxy): a change looks again at once.
   * `request` builds the request (it may read the proxy Secret), only when a lookup starts.
   */
  get(config: string, source: unknown, request: () => Promise<LatestVersionRequest>): LatestAnswer {
    const key = canonicalJson(source);
    let entry = this.entries.get(config);
    if (!entry || entry.source !== key) {
      entry = { source: key, inFlight: false };
      this.entries.set(config, entry);
    }
    const wait = entry.error ? Math.min(this.opts.retryMs ?? 60_000, this.opts.intervalMs) : this.opts.intervalMs;
    const due = entry.checkedAt === undefined || this.now() - entry.checkedAt >= wait;
    if (due && !entry.inFlight) this.lookup(config, entry, request);
    return {
      ...(entry.version ? { version: entry.version } : {}),
      ...(entry.resolvedAt ? { resolvedAt: new Date(entry.resolvedAt).toISOString() } : {}),
      ...(entry.error ? { error: entry.error } : {}),
      nextCheckInMs: entry.inFlight || entry.checkedAt === undefined ? wait : Math.max(1_000, wait - (this.now() - entry.checkedAt)),
    };
  }

  forget(config: string): void {
    this.entries.delete(config);
  }

  private lookup(config: string, entry: Entry, request: () => Promise<LatestVersionRequest>): void {
    entry.inFlight = true;
    void (async () => {
      let changed = false;
      try {
        const r = await resolveLatestVersionWith(this.opts.fetchText, await request());
        if (r.ok) {
          changed = r.version !== entry.version || entry.error !== undefined;
          entry.version = r.version;
          entry.resolvedAt = this.now();
          entry.error = undefined;
        } else {
          changed = entry.error !== r.message;
          entry.error = r.message;
          this.opts.onError?.(config, r.message);
        }
      } catch (err) {
        entry.error = `cannot look up "latest": ${(err as Error).message}`;
        changed = true;
      } finally {
        entry.checkedAt = this.now();
        entry.inFlight = false;
      }
      // Only the live entry tells: a lookup for a source that changed meanwhile is dropped.
      if (changed && this.entries.get(config) === entry) this.opts.onChange(config);
    })();
  }
}
