// Types shared by the connectivity probes (node-agent/probes/*). No code.
import type { EndpointName } from '../../operator/api/regions.ts';

/** Why a probe failed: exactly one per failed probe (DESIGN.md "Connectivity probes"). */
export const REASONS = ['dns', 'tcp_timeout', 'tcp_refused', 'proxy', 'tls_handshake', 'tls_untrusted', 'http'] as const;
export type Reason = (typeof REASONS)[number];

/** Timed phases (the `phase` label of ssm_endpoint_probe_duration_seconds). */
export const PHASES = ['dns', 'tcp', 'tls', 'http'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * Where a probe was when it failed. `connect` is the proxy's CONNECT exchange (and, for an https:// proxy, the TLS
 * session to the proxy); its time is counted in the `tcp` phase because it is part of opening the byte stream.
 */
export type Step = Phase | 'connect';

export interface ProbeTarget {
  name: EndpointName;
  host: string;
  /** Default 443. */
  port?: number;
}

export type Via = 'direct' | 'proxy';

export interface ProbeResult {
  endpoint: EndpointName;
  host: string;
  via: Via;
  ok: boolean;
  reason?: Reason;
  /** Human-readable detail; never contains proxy credentials. */
  message?: string;
  /** Seconds, for the phases that completed. Via a proxy, `dns` is the proxy's own host and `tcp` includes CONNECT. */
  phases: Partial<Record<Phase, number>>;
  httpStatus?: number;
  at: Date;
  /** The name the dns phase resolved: the endpoint's host when direct, the proxy's host when via a proxy. */
  resolvedHost?: string;
  /** Addresses the dns phase returned. */
  addresses?: string[];
  /** The address the TCP connection reached (the proxy's address when via a proxy). */
  connectedAddress?: string;
  /** The proxy URL without credentials, when via a proxy. */
  proxy?: string;
  /** The no_proxy entry that sent this host direct while a proxy is configured. */
  noProxyMatch?: string;
}
