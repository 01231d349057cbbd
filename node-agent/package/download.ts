// HTTP(S) GET of one file, the way the node agent must fetch a package: bounded in size, in time and in redirects,
// through the configured proxy unless no_proxy sends the host direct (route.ts; the GET itself is http-get.ts),
// written to a temporary file that becomes the destination only when complete — on any failure nothing is left
// behind. Messages name the URL without credentials or query.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { redactUrl } from '../../operator/api/redact-url.ts';
import { DownloadError, type DownloadFailureReason } from './download-error.ts';
import { getOnce, isIdleTimeout, type Hop } from './http-get.ts';
import { basicAuth, isRedirect, redirectTarget } from './redirect.ts';
import { bareHost, route, type ProxySettings, type Route } from './route.ts';

export type { DownloadFailureReason } from './download-error.ts';
export type { ProxySettings } from './route.ts';

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

/** What a failed download returns: its reason, message and cause, and the URL that failed (the last hop after
 * redirects, without credentials). */
export type DownloadFailure = DownloadError & { readonly url: string };

function failed(reason: DownloadFailureReason, message: string, url: string, details: { status?: number | undefined; cause?: unknown } = {}): DownloadFailure {
  return new DownloadError(reason, message, { url, ...(details.status !== undefined ? { status: details.status } : {}), ...(details.cause !== undefined ? { cause: details.cause } : {}) }) as DownloadFailure;
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

/** GET with bounded redirects; resolves with a 200 response whose body the caller reads. */
async function open(start: URL, opts: DownloadOptions, signal: AbortSignal, idleTimeoutMs: number, state: RunState): Promise<Hop> {
  const maxRedirects = opts.maxRedirects ?? 5;
  const origin = start.origin;
  const authorization = opts.authorization ?? basicAuth(start);
  for (let hop = 0; ; hop++) {
    const url = state.url;
    const r = route(url, opts.proxy);
    state.route = r;
    const res = await getOnce(url, r, { signal, idleTimeoutMs, onIdle: () => (state.idle = true), ...(opts.ca ? { ca: opts.ca } : {}), ...(url.origin === origin && authorization ? { authorization } : {}) });
    state.hop = res;
    const { status } = res;
    if (status === 200) return res;
    // The body of a redirect or an error is not wanted: close this connection.
    res.body.resume();
    await res.close();
    if (isRedirect(status)) {
      const location = res.headers.location;
      state.url = redirectTarget(url, status, Array.isArray(location) ? location[0] : location, hop, maxRedirects);
      continue;
    }
    if (status === 404 || status === 410) throw new DownloadError('NotFound', `HTTP ${status} ${res.statusText}`.trimEnd(), { status });
    if (status === 407) throw new DownloadError('Proxy', `HTTP 407 from the proxy${r.via === 'proxy' ? ` ${r.proxy.display}` : ''}: proxy authentication required`, { status });
    // S3 answers 403 AccessDenied, not 404, for a missing key when the caller may not list the bucket.
    const hint = status === 403 && /(^|\.)amazonaws\.com(\.cn)?$/.test(bareHost(url)) ? ' (S3 also answers 403 for an object that does not exist: check the version)' : '';
    throw new DownloadError('HttpError', `HTTP ${status} ${res.statusText}`.trimEnd() + hint, { status });
  }
}

interface RunState {
  /** The URL of the current hop. */
  url: URL;
  route?: Route;
  /** The current hop's response (closed when the run ends). */
  hop?: Hop;
  /** The overall deadline passed. */
  timedOut: boolean;
  /** The idle timeout fired. */
  idle: boolean;
}

function failure(err: unknown, state: RunState, callerSignal: AbortSignal | undefined, opts: { timeoutMs: number; idleTimeoutMs: number }): DownloadFailure {
  const url = redactUrl(state.url);
  const via = state.route?.via === 'proxy' ? ` via the proxy ${state.route.proxy.display}` : '';
  const cause = { cause: err };
  if (state.timedOut) return failed('Timeout', `GET ${url}${via}: not finished within ${opts.timeoutMs} ms`, url, cause);
  if (state.idle || isIdleTimeout(err)) return failed('Timeout', `GET ${url}${via}: nothing received for ${opts.idleTimeoutMs} ms`, url, cause);
  if (callerSignal?.aborted) return failed('Aborted', `GET ${url}${via}: cancelled`, url, cause);
  if (err instanceof DownloadError) return failed(err.reason, `GET ${url}${via}: ${err.message}`, url, { status: err.status, cause: err });
  const e = err as NodeJS.ErrnoException;
  const code = e.code && !e.message.includes(e.code) ? ` (${e.code})` : '';
  return failed('Network', `GET ${url}${via}: ${e.message}${code}`, url, cause);
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
  body: (res: Readable, counter: { bytes: number }) => Promise<T>,
): Promise<({ ok: true; value: T } & Fetched) | DownloadFailure> {
  let start: URL;
  try {
    start = new URL(url);
  } catch {
    // No cause: the URL parser's error holds the URL as given, credentials included.
    return failed('InvalidUrl', 'not a valid URL', redactUrl(url));
  }
  if (start.protocol !== 'https:' && start.protocol !== 'http:') {
    return failed('InvalidUrl', `unsupported scheme ${start.protocol}`, redactUrl(start));
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
  try {
    const res = await open(start, opts, controller.signal, idleTimeoutMs, state);
    const declared = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
    if (declared !== undefined && declared > opts.maxBytes) {
      throw new DownloadError('TooLarge', `Content-Length ${declared} exceeds the limit of ${opts.maxBytes} bytes`);
    }
    const counter = { bytes: 0 };
    const value = await body(res.body, counter);
    if (declared !== undefined && counter.bytes !== declared) {
      throw new DownloadError('Network', `the body ended after ${counter.bytes} of ${declared} bytes`);
    }
    const r = state.route;
    return { ok: true, value, url: redactUrl(state.url), via: r?.via ?? 'direct', ...(r?.via === 'proxy' ? { proxy: r.proxy.display } : {}), bytes: counter.bytes };
  } catch (err) {
    return failure(err, state, opts.signal, { timeoutMs: opts.timeoutMs, idleTimeoutMs });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    await state.hop?.close();
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
    return failed('FileSystem', `cannot move the download into place: ${(err as Error).message}`, result.url, { cause: err });
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
