// The tcp step: connect to the first address that answers, trying the resolved addresses in order (at most 8).
// Like Go's dialer, each attempt gets an equal share of the remaining time but at least 2 s (or what is left), so a
// dead IPv6 address does not use up the whole timeout before a working IPv4 one is tried.
import { connect, isIPv6, type Socket } from 'node:net';
import { PROBE_CODES, ProbeError, errorCode } from './classify.ts';
import { runStep } from './run-step.ts';

const MAX_ADDRESSES = 8;
const MIN_ATTEMPT_MS = 2_000;

export interface TcpConnection {
  socket: Socket;
  address: string;
}

const hostPort = (address: string, port: number): string => (isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`);

const ignore = (): void => undefined;

export function connectTcp(addresses: readonly string[], port: number, timeoutMs: number, signal?: AbortSignal): Promise<TcpConnection> {
  const list = addresses.slice(0, MAX_ADDRESSES);
  const what = `TCP connect to ${list.length === 1 ? hostPort(list[0] as string, port) : `port ${port} of ${list.join(', ')}`}`;
  return runStep<TcpConnection>('tcp', what, timeoutMs, signal, ({ resolve, reject }) => {
    const deadline = performance.now() + timeoutMs;
    const failures: { address: string; code: string; message: string }[] = [];
    let current: Socket | undefined;
    let attemptTimer: NodeJS.Timeout | undefined;
    let abandoned = false;

    const giveUp = (): void => {
      // A drop somewhere (timeout) is the more telling symptom than a refusal elsewhere; else the first error.
      const timedOut = failures.find((f) => f.code === PROBE_CODES.timeout || f.code === 'ETIMEDOUT');
      const first = timedOut ?? failures[0];
      const detail = failures.map((f) => `${hostPort(f.address, port)} ${f.message}`).join('; ');
      reject(new ProbeError('tcp', first?.code ?? 'UNKNOWN', `TCP connect failed: ${detail || 'no address to try'}`));
    };

    const attempt = (i: number): void => {
      if (abandoned) return;
      const address = list[i];
      if (address === undefined) return giveUp();
      const remaining = deadline - performance.now();
      let budget = remaining / (list.length - i);
      if (budget < MIN_ATTEMPT_MS) budget = Math.min(MIN_ATTEMPT_MS, remaining);
      const socket = connect({ host: address, port, noDelay: true });
      current = socket;
      // Errors after the connection is handed over surface through whoever reads it; never as an uncaught event.
      socket.on('error', ignore);
      const fail = (code: string, message: string): void => {
        clearTimeout(attemptTimer);
        socket.removeListener('connect', onConnect);
        socket.destroy();
        failures.push({ address, code, message });
        attempt(i + 1);
      };
      const onConnect = (): void => {
        clearTimeout(attemptTimer);
        socket.removeListener('error', onError);
        resolve({ socket, address });
      };
      const onError = (err: Error): void => fail(errorCode(err), errorCode(err) === 'UNKNOWN' ? err.message : errorCode(err));
      socket.once('connect', onConnect);
      socket.once('error', onError);
      attemptTimer = setTimeout(() => {
        socket.removeListener('error', onError);
        fail(PROBE_CODES.timeout, `no answer within ${Math.round(budget)} ms`);
      }, Math.max(1, budget));
    };

    attempt(0);
    return () => {
      abandoned = true;
      clearTimeout(attemptTimer);
      current?.destroy();
    };
  });
}
