// One probe cycle: the four SSM endpoints probed concurrently, with the node agent's rendered configuration.
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import type { EffectiveConfig, EffectiveProxy } from '../config/effective.ts';
import { probeEndpoint } from './probe-endpoint.ts';
import { type ProbeResult } from './types.ts';
import { ENDPOINT_NAMES, type EndpointName } from '../../operator/api/regions.ts';

/** What a probe cycle needs: the endpoints, the probe timing, and the proxy as the pass resolved it. */
export type ProbeConfig = Pick<NodeAgentConfig, 'endpoints' | 'connectivity'> & { proxy: EffectiveProxy };

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

/** The probes' view of a pass's effective configuration. */
export function probeConfig(effective: EffectiveConfig): ProbeConfig {
  const { endpoints, connectivity } = effective.config;
  // A bad proxy Secret is reported by the configure step; the probes then show what going direct gives.
  return { endpoints, connectivity, proxy: effective.proxy.ok ? effective.proxy.proxy : { noProxy: effective.config.proxy.noProxy } };
}

export async function probeAll(config: ProbeConfig, opts: ProbeAllOptions = {}): Promise<ProbeResult[]> {
  const timeoutMs = Math.max(1, Math.round(config.connectivity.timeoutSeconds * 1000));
  const totalMs = opts.totalTimeoutMs ?? 5 * timeoutMs;
  // The agent's proxy for its HTTPS traffic. Like Go's http.ProxyFromEnvironment (the agent's), http_proxy does
  // not apply to https:// URLs, so it is not used here.
  const proxy = config.proxy.httpsProxy;
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
