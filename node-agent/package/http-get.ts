// One GET of a download, no redirect handling. An https:// URL through a proxy rides undici's ProxyAgent (its
// CONNECT tunnel, with a dispatcher of its own per hop, closed with the hop: nothing pooled between downloads, no
// environment proxy variable consulted, the proxy's credentials only in Proxy-Authorization). Direct requests and
// http:// URLs through a proxy (absolute-form, RFC 9112 §3.2.2) use node:http: undici fails those with "other side
// closed" when the peer closes a connection it did not announce as closing while the body is under backpressure —
// tinyproxy does exactly that after every absolute-form response (31 of 100 downloads of 1 MiB failed here; 0 with
// node:http; nodejs/undici#5360 is the same race on the non-keep-alive path).
import type { ClientRequest, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher, Pool as PoolType } from 'undici';
import { authority } from '../probes/http-head.ts';
import type { ProxyServer } from '../probes/proxy-url.ts';
import { DownloadError } from './download-error.ts';
import type { Route } from './route.ts';
import { wireUrl } from './redirect.ts';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { request: httpRequest, STATUS_CODES } = process.getBuiltinModule('node:http');

const USER_AGENT = 'ssm-agent-operator-node-agent';

// undici costs about 14 MiB of RSS once loaded: it loads with the first download through a proxy, not with the node
// agent (most passes download nothing).
let undici: Promise<typeof import('undici')> | undefined;
const loadUndici = (): Promise<typeof import('undici')> => (undici ??= import('undici'));

export interface HopOptions {
  signal: AbortSignal;
  /** Told when the idle timeout ends a node:http hop (its error then surfaces as a generic one). */
  onIdle?(): void;
  /** No byte for this long (connecting, the proxy's CONNECT answer, the response head, between body chunks). */
  idleTimeoutMs: number;
  ca?: string | Buffer | Array<string | Buffer>;
  /** The Authorization header of this hop (the caller decides which origin gets it). */
  authorization?: string;
}

export interface Hop {
  status: number;
  statusText: string;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** Ends the hop: its connection and dispatcher. */
  close(): Promise<void>;
}

const IDLE_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** undici's "nothing came for idleTimeoutMs" errors. */
export function isIdleTimeout(err: unknown): boolean {
  return IDLE_CODES.has((err as { code?: string } | undefined)?.code ?? '');
}

/** The proxy's origin without credentials (they go in Proxy-Authorization). */
function proxyOrigin(proxy: ProxyServer): string {
  return `${proxy.protocol}://${authority(proxy.host, proxy.port)}`;
}

/**
 * The pool that talks to the proxy itself: its CONNECT outcome becomes a DownloadError with reason Proxy naming the
 * proxy (never its credentials), as the download reports any failure before the tunnel is open.
 */
function tunnelling(pool: PoolType, proxy: ProxyServer, idleTimeoutMs: number): PoolType {
  const connect = pool.connect.bind(pool) as (o: Dispatcher.ConnectOptions) => Promise<Dispatcher.ConnectData>;
  const watched = async (o: Dispatcher.ConnectOptions): Promise<Dispatcher.ConnectData> => {
    const target = o.path;
    let data: Dispatcher.ConnectData;
    try {
      data = await connect(o);
    } catch (err) {
      if (isIdleTimeout(err)) throw new DownloadError('Proxy', `the proxy ${proxy.display} did not answer CONNECT ${target} within ${idleTimeoutMs} ms`, { cause: err });
      throw new DownloadError('Proxy', `cannot CONNECT ${target} through the proxy ${proxy.display}: ${(err as Error).message}`, { cause: err });
    }
    const status = data.statusCode;
    if (status < 200 || status > 299) {
      data.socket.destroy();
      const hint = status === 407 ? ' (proxy authentication required: check the proxy credentials)' : '';
      throw new DownloadError('Proxy', `the proxy ${proxy.display} refused CONNECT ${target}: HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd() + hint, { status });
    }
    // Any 2xx opens the tunnel (RFC 9110 §9.3.6); undici itself takes only 200.
    return { ...data, statusCode: 200 };
  };
  Object.assign(pool, { connect: watched });
  return pool;
}

async function proxyAgent(proxy: ProxyServer, opts: HopOptions): Promise<Dispatcher> {
  const { Pool, ProxyAgent } = await loadUndici();
  const timeouts = { headersTimeout: opts.idleTimeoutMs, bodyTimeout: opts.idleTimeoutMs };
  const tls = opts.ca ? { ca: opts.ca } : {};
  return new ProxyAgent({
    uri: proxyOrigin(proxy),
    ...(proxy.authorization ? { token: proxy.authorization } : {}),
    ...timeouts,
    connectTimeout: opts.idleTimeoutMs,
    allowH2: false,
    requestTls: tls,
    proxyTls: tls,
    // The tunnelled origins' pools: the same idle bounds.
    factory: (origin, o) => new Pool(origin, { ...o, ...timeouts }),
    clientFactory: (origin, o) => tunnelling(new Pool(origin, { ...o, ...timeouts }), proxy, opts.idleTimeoutMs),
  });
}

async function viaProxyAgent(url: URL, r: Extract<Route, { via: 'proxy' }>, opts: HopOptions): Promise<Hop> {
  const { request } = await loadUndici();
  const dispatcher = await proxyAgent(r.proxy, opts);
  const close = (): Promise<void> => dispatcher.destroy().catch(() => undefined);
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: '*/*', 'accept-encoding': 'identity' };
  if (opts.authorization) headers.authorization = opts.authorization;
  try {
    const res = await request(wireUrl(url), { dispatcher, method: 'GET', headers, signal: opts.signal, headersTimeout: opts.idleTimeoutMs, bodyTimeout: opts.idleTimeoutMs });
    return { status: res.statusCode, statusText: res.statusText || (STATUS_CODES[res.statusCode] ?? ''), headers: res.headers, body: res.body, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Direct, or an http:// URL through the proxy (the absolute URL as request-target). */
function viaNodeHttp(url: URL, r: Route, opts: HopOptions): Promise<Hop> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const target = wireUrl(url);
  const headers: OutgoingHttpHeaders = { Host: target.host, 'User-Agent': USER_AGENT, Accept: '*/*', 'Accept-Encoding': 'identity' };
  if (opts.authorization) headers.Authorization = opts.authorization;
  let req: ClientRequest;
  if (r.via === 'direct') {
    const common = { host, port, path: `${target.pathname}${target.search}`, method: 'GET', headers, signal: opts.signal, agent: false as const };
    const tls = { ...(isIP(host) ? {} : { servername: host }), ...(opts.ca ? { ca: opts.ca } : {}), ALPNProtocols: ['http/1.1'] };
    req = url.protocol === 'https:' ? httpsRequest({ ...common, ...tls }) : httpRequest(common);
  } else {
    const { proxy } = r;
    if (proxy.authorization) headers['Proxy-Authorization'] = proxy.authorization;
    const common = { host: proxy.host, port: proxy.port, path: target.toString(), method: 'GET', headers, signal: opts.signal, agent: false as const };
    req =
      proxy.protocol === 'https'
        ? httpsRequest({ ...common, ...(isIP(proxy.host) ? {} : { servername: proxy.host }), ...(opts.ca ? { ca: opts.ca } : {}) })
        : httpRequest(common);
  }
  return new Promise((resolve, reject) => {
    req.setTimeout(opts.idleTimeoutMs, () => {
      opts.onIdle?.();
      req.destroy(new DownloadError('Timeout', `nothing received for ${opts.idleTimeoutMs} ms`));
    });
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      resolve({ status, statusText: res.statusMessage ?? STATUS_CODES[status] ?? '', headers: res.headers, body: res, close: async () => void req.destroy() });
    });
    // Kept for the whole exchange: a later error (body phase) surfaces through the response stream, not here.
    req.on('error', reject);
    req.end();
  });
}

/** One GET; resolves with the response head, the body still to read. */
export function getOnce(url: URL, r: Route, opts: HopOptions): Promise<Hop> {
  return r.via === 'proxy' && url.protocol === 'https:' ? viaProxyAgent(url, r, opts) : viaNodeHttp(url, r, opts);
}
