// The http step: one `GET /` on the verified TLS connection and its status line. Any status proves the path.
import type { TLSSocket } from 'node:tls';
import { PROBE_CODES, ProbeError, errorCode } from './classify.ts';
import { USER_AGENT, authority, parseStatusLine, printable, type StatusLine } from './http-head.ts';
import { runStep } from './run-step.ts';

const MAX_STATUS_LINE_BYTES = 8 * 1024;

export function httpStatus(socket: TLSSocket, host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<StatusLine> {
  const hostHeader = port === 443 ? (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host) : authority(host, port);
  const what = `GET https://${hostHeader}/`;
  return runStep<StatusLine>('http', what, timeoutMs, signal, ({ resolve, reject }) => {
    let buffered = Buffer.alloc(0);
    const stop = (): void => {
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('error', onError);
    };
    const fail = (code: string, message: string): void => {
      stop();
      reject(new ProbeError('http', code, message));
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const eol = buffered.indexOf('\r\n');
      if (eol < 0) {
        if (buffered.length > MAX_STATUS_LINE_BYTES) fail(PROBE_CODES.httpBadResponse, `${what}: no status line in the first ${MAX_STATUS_LINE_BYTES} bytes`);
        return;
      }
      stop();
      const line = buffered.subarray(0, eol).toString('latin1');
      const status = parseStatusLine(line);
      if (!status) return fail(PROBE_CODES.httpBadResponse, `${what}: not an HTTP response ("${printable(line, 60)}")`);
      resolve(status);
    };
    const onEnd = (): void => fail(PROBE_CODES.httpBadResponse, `${what}: the server closed the connection without answering`);
    const onError = (err: Error): void => fail(errorCode(err), `${what}: ${printable(err.message, 200)}`);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.write(`GET / HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: ${USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
    return () => {
      stop();
      socket.destroy();
    };
  });
}
