// A byte stream to host:port through an HTTP proxy's CONNECT method (RFC 9110 §9.3.6): what an https:// download
// rides on when a proxy is configured. The proxy itself may be http:// (plain TCP to the proxy) or https:// (TLS
// to the proxy, then CONNECT inside it).
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { authority } from '../probes/http-head.ts';
import type { ProxyServer } from '../probes/proxy-url.ts';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { request: httpRequest } = process.getBuiltinModule('node:http');

export class TunnelError extends Error {
  /** The proxy's status when it answered CONNECT with something else than 2xx. */
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'TunnelError';
    this.status = status;
  }
}

export interface TunnelOptions {
  signal: AbortSignal;
  /** No answer from the proxy for this long fails the CONNECT. */
  idleTimeoutMs: number;
  /** CA certificates for an https:// proxy (default: Node's roots). */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** Opens a CONNECT tunnel; resolves with the raw socket to the target (no TLS to the target yet). */
export function openTunnel(proxy: ProxyServer, host: string, port: number, opts: TunnelOptions): Promise<Socket> {
  const target = authority(host, port);
  const headers: Record<string, string> = { Host: target };
  if (proxy.authorization) headers['Proxy-Authorization'] = proxy.authorization;
  return new Promise<Socket>((resolve, reject) => {
    const req = httpRequest({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: target,
      headers,
      signal: opts.signal,
      ...(proxy.protocol === 'https'
        ? {
            createConnection: () =>
              tlsConnect({
                host: proxy.host,
                port: proxy.port,
                ...(isIP(proxy.host) ? {} : { servername: proxy.host }),
                ...(opts.ca ? { ca: opts.ca } : {}),
                ALPNProtocols: ['http/1.1'],
              }),
          }
        : {}),
    });
    req.setTimeout(opts.idleTimeoutMs, () => req.destroy(new TunnelError(`the proxy ${proxy.display} did not answer CONNECT ${target} within ${opts.idleTimeoutMs} ms`)));
    req.once('connect', (res, socket, head) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        socket.destroy();
        const hint = status === 407 ? ' (proxy authentication required: check the proxy credentials)' : '';
        reject(new TunnelError(`the proxy ${proxy.display} refused CONNECT ${target}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() + hint, status));
        return;
      }
      // Bytes the proxy sent after its answer belong to the tunnel: put them back in front of the stream.
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('response', (res) => {
      // A proxy that answers CONNECT with an ordinary response (no upgrade to a tunnel).
      res.resume();
      reject(new TunnelError(`the proxy ${proxy.display} answered CONNECT ${target} with HTTP ${res.statusCode ?? 0} and no tunnel`, res.statusCode));
    });
    req.on('error', (err) => {
      reject(err instanceof TunnelError ? err : new TunnelError(`cannot CONNECT ${target} through the proxy ${proxy.display}: ${err.message}`));
    });
    req.end();
  });
}
