// HTTP(S) GET of one file, the way the node agent must fetch a package: bounded in size, in time and in redirects,
// through the configured proxy unless no_proxy sends the host direct (CONNECT for https://, absolute-form requests
// for http://), written to a temporary file that becomes the destination only when complete — on any failure
// nothing is left behind. Messages name the URL without credentials or query.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect as tlsConnect } from 'node:tls';
import { bypassesProxy } from '../probes/no-proxy.ts';
import { parseProxyUrl, type ProxyServer } from '../probes/proxy-url.ts';
import { redactUrl } from '../../operator/api/redact-url.ts';
import { openTunnel, TunnelError } from './tunnel.ts';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { request: httpRequest } = process.getBuiltinModule('node:http');

export interface ProxySettings {
  /** Proxy for https:// URLs (https_proxy). */
  httpsProxy?: string;
  /** Proxy for http:// URLs (http_proxy). */
  httpProxy?: string;
  /** Hosts that go direct (no_proxy), matched by node-agent/probes/no-proxy.ts. */
  noProxy: readonly string[];
}

export interface DownloadOptions {
  /** Larger bodies fail with TooLarge (checked against Content-Length first, then while reading). */
  maxBytes: number;
  /** The whole download, redirects included. */
  timeoutMs: number;
  /** No byte received for this long fails the download. Default: min(30 s, timeoutMs). */
  idleTimeoutMs?: number;
  /** Default 5. */
  maxRedirects?: number;
  proxy?: ProxySettings;
  /** An Authorization header for the first URL's origin only (the mirror's credentials from its Secret); never
   * sent across a redirect to another origin, never logged. Default: user:password of the URL, if any. */
  authorization?: string;
  /** CA certificates to trust instead of Node's roots (a mirror with a private CA; tests). */
  ca?: string | Buffer | Array<string | Buffer>;
  signal?: AbortSignal;
}

export type DownloadFailureReason = 'NotFound' | 'HttpError' | 'TooLarge' | 'Timeout' | 'Network' | 'Proxy' | 'Redirect' | 'InvalidUrl' | 'Aborted' | 'FileSystem';

export interface DownloadFailure {
  ok: false;
  reason: DownloadFailureReason;
  message: string;
  /** The URL that failed (the last hop after redirects), without credentials. */
  url: string;
  status?: number;
}

export interface Fetched {
  /** The URL finally served (after redirects), without credentials. */
  url: string;
  via: 'direct' | 'proxy';
  /** The proxy URL without credentials, when via a proxy. */
  proxy?: string;
  bytes: number;
}

export type DownloadResult = ({ ok: true; path: string } & Fetched) | DownloadFailure;
export type TextResult = ({ ok: true; text: string } & Fetched) | DownloadFailure;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'ssm-agent-operator-node-agent';

class DownloadError extends Error {
  readonly reason: DownloadFailureReason;
  readonly status: number | undefined;
  constructor(reason: DownloadFailureReason, message: string, status?: number) {
    super(message);
    this.name = 'DownloadError';
    this.reason = reason;
    this.status = status;
  }
}

interface Route {
  via: 'direct' | 'proxy';
  proxy?: ProxyServer;
}

function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function defaultPort(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

function route(url: URL, proxy: ProxySettings | undefined): Route {
  const proxyUrl = url.protocol === 'https:' ? proxy?.httpsProxy : proxy?.httpProxy;
  if (!proxy || proxyUrl === undefined || proxyUrl.trim() === '') return { via: 'direct' };
  if (bypassesProxy(bareHost(url), defaultPort(url), proxy.noProxy)) return { via: 'direct' };
  const parsed = parseProxyUrl(proxyUrl);
  if (!parsed.ok) throw new DownloadError('Proxy', `the ${url.protocol === 'https:' ? 'https' : 'http'} proxy setting cannot be used: ${parsed.error}`);
  return { via: 'proxy', proxy: parsed.proxy };
}

/** Basic credentials from the URL's user:password, for the URL's own origin only. */
function basicAuth(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

/** The URL as sent on the wire: no credentials, no fragment. */
function wireUrl(url: URL): URL {
  const u = new URL(url.toString());
  u.username = '';
  u.password = '';
  u.hash = '';
  return u;
}

interface HopOptions {
  signal: AbortSignal;
  idleTimeoutMs: number;
  state: RunState;
  ca?: DownloadOptions['ca'];
  authorization?: string;
}

/** One GET, no redirect handling: resolves with the response head. */
async function requestOnce(url: URL, r: Route, opts: HopOptions): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  const host = bareHost(url);
  const port = defaultPort(url);
  const https = url.protocol === 'https:';
  const target = wireUrl(url);
  const headers: OutgoingHttpHeaders = { Host: target.host, 'User-Agent': USER_AGENT, Accept: '*/*', 'Accept-Encoding': 'identity' };
  if (opts.authorization) headers.Authorization = opts.authorization;
  const servername = isIP(host) ? undefined : host;
  const tls = { ...(servername ? { servername } : {}), ...(opts.ca ? { ca: opts.ca } : {}), ALPNProtocols: ['http/1.1'] };

  let req: ClientRequest;
  if (r.via === 'direct') {
    const common = { host, port, path: `${target.pathname}${target.search}`, method: 'GET', headers, signal: opts.signal, agent: false as const };
    req = https ? httpsRequest({ ...common, ...tls }) : httpRequest(common);
  } else if (https) {
    const proxy = r.proxy as ProxyServer;
    const socket = await openTunnel(proxy, host, port, { signal: opts.signal, idleTimeoutMs: opts.idleTimeoutMs, ...(opts.ca ? { ca: opts.ca } : {}) }).catch((err: unknown) => {
      if (opts.signal.aborted) throw err;
      throw new DownloadError('Proxy', (err as Error).message, err instanceof TunnelError ? err.status : undefined);
    });
    req = httpRequest({
      host,
      port,
      path: `${target.pathname}${target.search}`,
      method: 'GET',
      headers,
      signal: opts.signal,
      createConnection: () => tlsConnect({ socket, host, ...tls }),
    });
  } else {
    // Plain http:// through the proxy: the absolute URL as request-target (RFC 9112 §3.2.2).
    const proxy = r.proxy as ProxyServer;
    if (proxy.authorization) headers['Proxy-Authorization'] = proxy.authorization;
    const common = { host: proxy.host, port: proxy.port, path: target.toString(), method: 'GET', headers, signal: opts.signal, agent: false as const };
    req =
      proxy.protocol === 'https'
        ? httpsRequest({ ...common, ...(isIP(proxy.host) ? {} : { servername: proxy.host }), ...(opts.ca ? { ca: opts.ca } : {}) })
        : httpRequest(common);
  }
  return new Promise((resolve, reject) => {
    req.setTimeout(opts.idleTimeoutMs, () => {
      opts.state.idle = true;
      req.destroy(new DownloadError('Timeout', `nothing received for ${opts.idleTimeoutMs} ms`));
    });
    req.once('response', (res) => resolve({ req, res }));
    // Kept for the whole exchange: a later error (body phase) surfaces through the response stream, not here.
    req.on('error', reject);
    req.end();
  });
}

/** GET with bounded redirects; resolves with a 200 response whose body the caller reads. */
async function open(
  start: URL,
  opts: DownloadOptions,
  signal: AbortSignal,
  idleTimeoutMs: number,
  state: RunState,
): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const origin = start.origin;
  const authorization = opts.authorization ?? basicAuth(start);
  for (let hop = 0; ; hop++) {
    const url = state.url;
    const r = route(url, opts.proxy);
    state.route = r;
    const { req, res } = await requestOnce(url, r, { signal, idleTimeoutMs, state, ...(opts.ca ? { ca: opts.ca } : {}), ...(url.origin === origin && authorization ? { authorization } : {}) });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      // The body of a redirect or an error is not wanted: close this connection.
      res.resume();
      req.destroy();
    }
    if (REDIRECTS.has(status)) {
      const location = res.headers.location;
      if (!location) throw new DownloadError('Redirect', `HTTP ${status} without a Location header`, status);
      if (hop >= maxRedirects) throw new DownloadError('Redirect', `more than ${maxRedirects} redirects`, status);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new DownloadError('Redirect', `HTTP ${status} to an invalid Location`, status);
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new DownloadError('Redirect', `redirect to a ${next.protocol} URL refused`, status);
      if (url.protocol === 'https:' && next.protocol === 'http:') throw new DownloadError('Redirect', `redirect from https to http refused (${redactUrl(next)})`, status);
      state.url = next;
      continue;
    }
    if (status === 200) return { req, res };
    if (status === 404 || status === 410) throw new DownloadError('NotFound', `HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd(), status);
    if (status === 407) throw new DownloadError('Proxy', `HTTP 407 from the proxy${r.proxy ? ` ${r.proxy.display}` : ''}: proxy authentication required`, status);
    // S3 answers 403 AccessDenied, not 404, for a missing key when the caller may not list the bucket.
    const hint = status === 403 && /(^|\.)amazonaws\.com(\.cn)?$/.test(bareHost(url)) ? ' (S3 also answers 403 for an object that does not exist: check the version)' : '';
    throw new DownloadError('HttpError', `HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() + hint, status);
  }
}

interface RunState {
  /** The URL of the current hop. */
  url: URL;
  route?: Route;
  /** The overall deadline passed. */
  timedOut: boolean;
  /** The idle timeout fired. */
  idle: boolean;
}

function failure(err: unknown, state: RunState, callerSignal: AbortSignal | undefined, opts: { timeoutMs: number; idleTimeoutMs: number }): DownloadFailure {
  const url = redactUrl(state.url);
  const via = state.route?.via === 'proxy' ? ` via the proxy ${state.route.proxy?.display}` : '';
  const base = { ok: false as const, url };
  if (state.timedOut) return { ...base, reason: 'Timeout', message: `GET ${url}${via}: not finished within ${opts.timeoutMs} ms` };
  if (state.idle) return { ...base, reason: 'Timeout', message: `GET ${url}${via}: nothing received for ${opts.idleTimeoutMs} ms` };
  if (callerSignal?.aborted) return { ...base, reason: 'Aborted', message: `GET ${url}${via}: cancelled` };
  if (err instanceof DownloadError) {
    return { ...base, reason: err.reason, message: `GET ${url}${via}: ${err.message}`, ...(err.status !== undefined ? { status: err.status } : {}) };
  }
  const e = err as NodeJS.ErrnoException;
  const code = e.code && !e.message.includes(e.code) ? ` (${e.code})` : '';
  return { ...base, reason: 'Network', message: `GET ${url}${via}: ${e.message}${code}` };
}

/** Counts bytes and fails past the cap. */
function limiter(maxBytes: number, counter: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      counter.bytes += chunk.length;
      if (counter.bytes > maxBytes) cb(new DownloadError('TooLarge', `the body exceeds the limit of ${maxBytes} bytes`));
      else cb(null, chunk);
    },
  });
}

async function run<T>(
  url: string,
  opts: DownloadOptions,
  body: (res: IncomingMessage, counter: { bytes: number }) => Promise<T>,
): Promise<({ ok: true; value: T } & Fetched) | DownloadFailure> {
  let start: URL;
  try {
    start = new URL(url);
  } catch {
    return { ok: false, reason: 'InvalidUrl', message: 'not a valid URL', url: redactUrl(url) };
  }
  if (start.protocol !== 'https:' && start.protocol !== 'http:') {
    return { ok: false, reason: 'InvalidUrl', message: `unsupported scheme ${start.protocol}`, url: redactUrl(start) };
  }
  const controller = new AbortController();
  const state: RunState = { url: start, timedOut: false, idle: false };
  const timer = setTimeout(() => {
    state.timedOut = true;
    controller.abort(new DownloadError('Timeout', 'deadline'));
  }, opts.timeoutMs);
  const onAbort = () => controller.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const idleTimeoutMs = opts.idleTimeoutMs ?? Math.min(30_000, opts.timeoutMs);
  let req: ClientRequest | undefined;
  try {
    const opened = await open(start, opts, controller.signal, idleTimeoutMs, state);
    req = opened.req;
    const { res } = opened;
    const declared = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
    if (declared !== undefined && declared > opts.maxBytes) {
      throw new DownloadError('TooLarge', `Content-Length ${declared} exceeds the limit of ${opts.maxBytes} bytes`);
    }
    const counter = { bytes: 0 };
    const value = await body(res, counter);
    if (declared !== undefined && counter.bytes !== declared) {
      throw new DownloadError('Network', `the body ended after ${counter.bytes} of ${declared} bytes`);
    }
    const r = state.route;
    return { ok: true, value, url: redactUrl(state.url), via: r?.via ?? 'direct', ...(r?.proxy ? { proxy: r.proxy.display } : {}), bytes: counter.bytes };
  } catch (err) {
    return failure(err, state, opts.signal, { timeoutMs: opts.timeoutMs, idleTimeoutMs });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    req?.destroy();
  }
}

/**
 * Downloads url to dest. The body goes to a temporary file next to dest (mode 0600) that is renamed to dest only
 * when the whole body arrived; on any failure the temporary file is removed and dest is not touched.
 */
export async function downloadToFile(url: string, dest: string, opts: DownloadOptions): Promise<DownloadResult> {
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomUUID()}.part`);
  const result = await run(url, opts, async (res, counter) => {
    await pipeline(res, limiter(opts.maxBytes, counter), createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
  });
  if (!result.ok) {
    await rm(tmp, { force: true });
    return result;
  }
  try {
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    return { ok: false, reason: 'FileSystem', message: `cannot move the download into place: ${(err as Error).message}`, url: result.url };
  }
  const { value: _value, ...fetched } = result;
  return { ...fetched, path: dest };
}

/** GETs a small text file (a version number) into memory, with the same limits and routing. */
export async function fetchText(url: string, opts: DownloadOptions): Promise<TextResult> {
  const result = await run(url, opts, async (res, counter) => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    await pipeline(res, limiter(opts.maxBytes, counter), sink);
    return Buffer.concat(chunks).toString('utf8');
  });
  if (!result.ok) return result;
  const { value, ...fetched } = result;
  return { ...fetched, text: value };
}
