// A thin JSON client for the Kubernetes API: one place for transport, auth and error shape. Objects stay plain
// JSON (timestamps are strings) whether they come from a list, a watch or a write.
import type { KubeConfig } from '@kubernetes/client-node';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Agent, fetch } from '../lib/undici-lean.ts';
import type { KubeAccess } from './access.ts';
import { kubeConfigAccess } from './kubeconfig-access.ts';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
}

export interface KubeList<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string;
  constructor(statusCode: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.statusCode === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.statusCode === 409;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** More request headers (never Authorization: that comes from the kubeconfig). */
  headers?: Record<string, string>;
}

export type WatchEvent<T> = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T } | { type: 'ERROR'; object: { code?: number; message?: string; reason?: string } };

const DEFAULT_TIMEOUT_MS = 30_000;
/** As client-go re-reads a projected token: the kubelet rotates it long before it expires. */
const AUTH_REFRESH_MS = 60_000;

type Transport = { headers: Record<string, string>; dispatcher: Dispatcher };

export class KubeClient {
  private readonly access: KubeAccess;
  private agent?: { key: string; dispatcher: Dispatcher };
  private cached?: { at: number; value: Promise<Transport> };

  /** A KubeConfig is accepted for tests and tools that already hold one; the operator passes a KubeAccess. */
  constructor(access: KubeAccess | KubeConfig) {
    this.access = 'applyToHTTPSOptions' in access ? kubeConfigAccess(access) : access;
  }

  get server(): string {
    return this.access.server;
  }

  /**
   * Auth is read again every AUTH_REFRESH_MS and after a 401, not per request: in-cluster tokens rotate and exec
   * plugins refresh, but rebuilding the TLS options on every call is waste on the hottest path (every TokenReview
   * of the fleet channel goes through here).
   */
  private transport(): Promise<Transport> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > AUTH_REFRESH_MS) {
      const value = this.loadTransport();
      this.cached = { at: now, value };
      value.catch(() => {
        if (this.cached?.value === value) this.cached = undefined;
      });
    }
    return this.cached.value;
  }

  /**
   * After a 401 with `used`: the credentials to retry with, once. They are read again unless another request already
   * did since `used` (the token file was rotated and the old token revoked: the new one is there already).
   */
  private async retryAuth(used: Transport): Promise<Transport | undefined> {
    const current = await this.cached?.value.catch(() => undefined);
    if (current && current !== used) return current;
    this.cached = undefined;
    return this.transport().catch(() => undefined);
  }

  private async loadTransport(): Promise<Transport> {
    const { headers, tls } = await this.access.auth();
    const key = JSON.stringify([String(tls.ca), String(tls.cert), String(tls.key), tls.rejectUnauthorized]);
    if (this.agent?.key !== key) {
      void this.agent?.dispatcher.close();
      this.agent = { key, dispatcher: new Agent({ connect: tls, keepAliveTimeout: 30_000 }) };
    }
    return { headers, dispatcher: this.agent.dispatcher };
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(this.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    let transport = await this.transport();
    let response = await this.send(transport, method, path, options);
    if (response.statusCode === 401) {
      const fresh = await this.retryAuth(transport);
      if (fresh) {
        await response.body.dump().catch(() => undefined);
        transport = fresh;
        response = await this.send(transport, method, path, options);
      }
    }
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode > 299) {
      let reason = STATUS_CODES[response.statusCode] ?? '';
      let message = text;
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? reason;
        message = status.message ?? message;
      } catch {
        // not a Status object: keep the raw text
      }
      throw new KubeApiError(response.statusCode, reason, `${method} ${path}: ${response.statusCode} ${message}`);
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** The kubeconfig user's bearer token (static, file or exec plugin), or undefined for client certificates. */
  async bearerToken(): Promise<string | undefined> {
    const { headers } = await this.transport();
    return /^Bearer\s+(\S+)$/i.exec(headers.Authorization ?? headers.authorization ?? '')?.[1];
  }

  private send({ headers, dispatcher }: Transport, method: string, path: string, options: RequestOptions): Promise<Dispatcher.ResponseData> {
    const signal = options.signal
      ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS)])
      : AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const hasBody = options.body !== undefined;
    const url = this.url(path, options.query);
    // The dispatcher's own request, not fetch: every TokenReview of the fleet channel comes through here, and fetch's
    // WHATWG Request/Headers/stream layers cost more CPU per call than the call itself (seen in CPU profiles of a
    // reconnect storm).
    return dispatcher.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: method as Dispatcher.HttpMethod,
      headers: { ...options.headers, ...headers, Accept: 'application/json', ...(hasBody ? { 'Content-Type': options.contentType ?? 'application/json' } : {}) },
      body: hasBody ? JSON.stringify(options.body) : null,
      signal,
    });
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  /**
   * Streams one watch until the server ends it, the signal aborts, or no byte arrives for `idleMs`.
   * Resolves on a normal end; rejects on transport and HTTP errors.
   */
  async watch<T>(path: string, query: RequestOptions['query'], onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal, idleMs: number): Promise<void> {
    let transport = await this.transport();
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(), idleMs);
    const resetIdle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), idleMs);
    };
    try {
      const open = (t: Transport) =>
        fetch(this.url(path, { ...query, watch: true }), {
          method: 'GET',
          headers: { ...t.headers, Accept: 'application/json' },
          dispatcher: t.dispatcher,
          signal: AbortSignal.any([signal, idle.signal]),
        });
      let response = await open(transport);
      if (response.status === 401) {
        const fresh = await this.retryAuth(transport);
        if (fresh) {
          await response.arrayBuffer().catch(() => undefined);
          transport = fresh;
          response = await open(transport);
        }
      }
      if (!response.ok || !response.body) {
        throw new KubeApiError(response.status, response.statusText, `WATCH ${path}: ${response.status} ${await response.text()}`);
      }
      const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
      body.on('data', resetIdle);
      const lines = createInterface({ input: body, crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line.trim()) continue;
        onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    } catch (err) {
      // An idle or caller abort is a normal end of this watch; the informer decides what comes next.
      if (idle.signal.aborted || signal.aborted) return;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    void this.agent?.dispatcher.close();
    this.agent = undefined;
    this.cached = undefined;
  }
}
