// A list-watch cache that never gives up: any error relists after a jittered backoff, a relist runs
// periodically to catch anything a watch missed, and every change is reported with the old object.
import type { Logger } from 'pino';
import { errorMessage } from '../lib/errors.ts';
import { backoffDelay } from '../lib/backoff.ts';
import { sleep } from '../lib/sleep.ts';
import { KubeApiError, type KubeClient, type KubeList, type KubeObject, type WatchEvent } from './client.ts';

export type InformerEvent<T> = { type: 'add'; object: T } | { type: 'update'; object: T; old: T } | { type: 'delete'; object: T };

export interface InformerOptions<T> {
  name: string;
  client: KubeClient;
  path: string;
  labelSelector?: string;
  log: Logger;
  onEvent: (event: InformerEvent<T>) => void;
  /** Called when the informer fails; it restarts by itself. */
  onError?: (err: unknown) => void;
  relistIntervalMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  watchTimeoutSeconds?: number;
  /** Trims each object before it is cached (e.g. Node status), to keep memory flat on big clusters. */
  transform?: (object: T) => T;
}

const keyOf = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class Informer<T extends KubeObject> {
  private readonly opts: InformerOptions<T>;
  private readonly cache = new Map<string, T>();
  private synced = false;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  private failures = 0;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(name: string, namespace = ''): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  private async run(): Promise<void> {
    const { log, relistIntervalMs = 10 * 60_000, backoff = { initialMs: 500, maxMs: 15_000 } } = this.opts;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        let rv: string | undefined = await this.relist();
        this.failures = 0;
        const relistAt = Date.now() + relistIntervalMs;
        while (!signal.aborted && Date.now() < relistAt && rv !== undefined) {
          rv = await this.watchOnce(rv, Math.max(1, Math.min(this.opts.watchTimeoutSeconds ?? 300, Math.ceil((relistAt - Date.now()) / 1000))));
        }
      } catch (err) {
        if (signal.aborted) break;
        this.failures++;
        const delay = backoffDelay(this.failures, backoff.initialMs, backoff.maxMs);
        log.warn({ informer: this.opts.name, err: errorMessage(err), retryInMs: delay, failures: this.failures }, 'informer failed; will relist');
        this.opts.onError?.(err);
        await sleep(delay, signal);
      }
    }
  }

  /** Lists everything and reconciles the cache with it, emitting the differences. Returns the list's resourceVersion. */
  private async relist(): Promise<string> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    for (let page = 0; page < 10_000; page++) {
      const list = await this.opts.client.get<KubeList<T>>(this.opts.path, {
        query: { labelSelector: this.opts.labelSelector, limit: 500, continue: cont },
        signal: this.abort.signal,
      });
      items.push(...list.items);
      rv = list.metadata?.resourceVersion ?? '';
      cont = list.metadata?.continue || undefined;
      if (!cont) break;
    }
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(keyOf(item));
      this.upsert(item);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.opts.onEvent({ type: 'delete', object: old });
      }
    }
    this.synced = true;
    return rv;
  }

  private upsert(raw: T): void {
    const object = this.opts.transform ? this.opts.transform(raw) : raw;
    const key = keyOf(object);
    const old = this.cache.get(key);
    this.cache.set(key, object);
    if (!old) this.opts.onEvent({ type: 'add', object });
    else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.opts.onEvent({ type: 'update', object, old });
  }

  /** Watches from `rv`; returns the last resourceVersion seen, or undefined when a relist is needed (410 Gone). */
  private async watchOnce(rv: string, timeoutSeconds: number): Promise<string | undefined> {
    let last: string | undefined = rv;
    await this.opts.client.watch<T>(
      this.opts.path,
      { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds, labelSelector: this.opts.labelSelector },
      (event: WatchEvent<T>) => {
        if (last === undefined) return;
        switch (event.type) {
          case 'ADDED':
          case 'MODIFIED':
            this.upsert(event.object);
            last = event.object.metadata?.resourceVersion ?? last;
            break;
          case 'DELETED': {
            const key = keyOf(event.object);
            if (this.cache.delete(key)) this.opts.onEvent({ type: 'delete', object: event.object });
            last = event.object.metadata?.resourceVersion ?? last;
            break;
          }
          case 'BOOKMARK':
            last = event.object.metadata?.resourceVersion ?? last;
            break;
          case 'ERROR':
            if (event.object.code === 410) last = undefined;
            else throw new KubeApiError(event.object.code ?? 500, event.object.reason ?? 'WatchError', event.object.message ?? 'watch error');
        }
      },
      this.abort.signal,
      (timeoutSeconds + 30) * 1000,
    );
    return last;
  }
}

export { errorMessage };
