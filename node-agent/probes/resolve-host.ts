// The dns step: all addresses of a name, through the system resolver (getaddrinfo, as the agent's Go resolver uses
// /etc/hosts and resolv.conf). A literal IP address resolves to itself without a lookup.
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { ProbeError } from './classify.ts';
import { runStep } from './run-step.ts';

export function resolveHost(host: string, timeoutMs: number, signal?: AbortSignal): Promise<string[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 0) return Promise.resolve([bare]);
  return runStep<string[]>('dns', `DNS lookup of ${host}`, timeoutMs, signal, ({ resolve, reject }) => {
    // getaddrinfo cannot be cancelled: on timeout the answer is simply ignored.
    lookup(host, { all: true }, (err, addresses) => {
      if (err) reject(new ProbeError('dns', err.code ?? 'UNKNOWN', `cannot resolve ${host}: ${err.code ?? err.message}`, { cause: err }));
      else if (addresses.length === 0) reject(new ProbeError('dns', 'ENODATA', `cannot resolve ${host}: no addresses`));
      else resolve(addresses.map((a) => a.address));
    });
    return () => undefined;
  });
}
