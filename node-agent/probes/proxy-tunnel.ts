// The proxy's CONNECT exchange: ask for a tunnel to host:port and read the answer's header block.
import type { Duplex } from 'node:stream';
import { PROBE_CODES, ProbeError, errorCode } from './classify.ts';
import { USER_AGENT, authority, parseStatusLine, printable } from './http-head.ts';
import { runStep } from './run-step.ts';

const MAX_HEADER_BYTES = 16 * 1024;

export interface TunnelRequest {
  host: string;
  port: number;
  /** `Basic …`; sent as Proxy-Authorization, never put in a message. */
  authorization?: string;
  /** The proxy without credentials, for messages. */
  proxyDisplay: string;
}

/** Resolves with the 2xx status once the tunnel is open; the stream is then paused with nothing buffered. */
export function openTunnel(stream: Duplex, req: TunnelRequest, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  const target = authority(req.host, req.port);
  const what = `CONNECT ${target} through ${req.proxyDisplay}`;
  return runStep<number>('connect', what, timeoutMs, signal, ({ resolve, reject }) => {
    let buffered = Buffer.alloc(0);
    const stop = (): void => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
    };
    const fail = (code: string, message: string): void => {
      stop();
      reject(new ProbeError('connect', code, message));
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_HEADER_BYTES) fail(PROBE_CODES.proxyBadResponse, `${what}: the proxy's answer has no end of headers`);
        return;
      }
      stop();
      stream.pause();
      const firstLine = buffered.subarray(0, end).toString('latin1').split('\r\n')[0] ?? '';
      const status = parseStatusLine(firstLine);
      if (!status) return fail(PROBE_CODES.proxyBadResponse, `${what}: the proxy did not answer HTTP ("${printable(firstLine, 60)}")`);
      // 407 is the standard answer; some proxies (tinyproxy, to wrong credentials) answer 401.
      if (status.status === 407 || status.status === 401) {
        const why = req.authorization ? 'the proxy rejected the credentials' : 'the proxy requires authentication and none is configured';
        return fail(PROBE_CODES.proxyAuth, `${what}: ${why} (${status.text})`);
      }
      if (status.status < 200 || status.status > 299) return fail(PROBE_CODES.proxyStatus, `${what}: the proxy refused the tunnel (${status.text})`);
      // TLS clients speak first: a proxy that sends bytes after its 200 is not a plain tunnel.
      if (buffered.length > end + 4) return fail(PROBE_CODES.proxyBadResponse, `${what}: the proxy sent data after "${status.text}"`);
      resolve(status.status);
    };
    const onEnd = (): void => fail(PROBE_CODES.proxyBadResponse, `${what}: the proxy closed the connection without answering`);
    const onError = (err: Error): void => fail(errorCode(err), `${what}: ${errorCode(err) === 'UNKNOWN' ? err.message : errorCode(err)}`);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, `User-Agent: ${USER_AGENT}`];
    if (req.authorization) lines.push(`Proxy-Authorization: ${req.authorization}`);
    stream.write(`${lines.join('\r\n')}\r\n\r\n`);
    return () => {
      stop();
      stream.destroy();
    };
  });
}
