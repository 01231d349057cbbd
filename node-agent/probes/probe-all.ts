// One probe cycle: the four SSM endpoints probed concurrently, with the node agent's rendered configuration.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { effectiveProxy } from '../proxy/effective-proxy.ts';
import { probeEndpoint } from './probe-endpoint.ts';
import { type ProbeResult } from './types.ts';
import { ENDPOINT_NAMES, type EndpointName } from '../../operator/api/regions.ts';

export type ProbeConfig = Pick<NodeAgentConfig, 'endpoints' | 'proxy' | 'connectivity'>;

export interface ProbeAllOptions {
  /** An extra PEM bundle trusted beside Node's and the system's roots. */
  caFile?: string;
  /** Ports other than 443 (tests against loopback servers). */
  ports?: Partial<Record<EndpointName, number>>;
  /**
   * Bound of the whole cycle in ms. Default: 5 × the step timeout (dns, tcp, CONNECT, tls, http), which each probe
   * cannot exceed anyway; a probe still running at the deadline fails in the step it is in.
   */
  totalTimeoutMs?: number;
  signal?: AbortSignal;
  now?: () => Date;
}

/**
 * The proxy the agent uses for its HTTPS traffic: https_proxy, inline or from the mounted proxy Secret. Like Go's
 * http.ProxyFromEnvironment (the agent's), http_proxy does not apply to https:// URLs, so it is not used here.
 */
export async function httpsProxyOf(proxy: NodeAgentConfig['proxy']): Promise<string | undefined> {
  // A bad proxy Secret is reported by the configure step; the probes then show what going direct gives.
  const r = await effectiveProxy(proxy, (dir, key) => readFile(join(dir, key), 'utf8').catch(() => undefined));
  return r.ok ? r.proxy.httpsProxy : undefined;
}

export async function probeAll(config: ProbeConfig, opts: ProbeAllOptions = {}): Promise<ProbeResult[]> {
  const timeoutMs = Math.max(1, Math.round(config.connectivity.timeoutSeconds * 1000));
  const totalMs = opts.totalTimeoutMs ?? 5 * timeoutMs;
  const proxy = await httpsProxyOf(config.proxy);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), totalMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline.signal]) : deadline.signal;
  try {
    return await Promise.all(
      ENDPOINT_NAMES.map((name) =>
        probeEndpoint(
          { name, host: config.endpoints[name], port: opts.ports?.[name] ?? 443 },
          {
            timeoutMs,
            noProxy: config.proxy.noProxy,
            signal,
            ...(proxy !== undefined ? { proxy } : {}),
            ...(opts.caFile !== undefined ? { caFile: opts.caFile } : {}),
            ...(opts.now ? { now: opts.now } : {}),
          },
        ),
      ),
    );
  } finally {
    clearTimeout(timer);
  }
}
