// The probes' Prometheus metrics (contract names, DESIGN.md "Metrics"), registered on a given registry and updated
// from probe results.
import { Counter, Gauge, Histogram, type Registry } from '../../operator/lib/prom.ts';
import { PHASES, REASONS, type ProbeResult, type Via } from './types.ts';
import { ENDPOINT_NAMES, type EndpointName } from '../../operator/api/regions.ts';

/** Loopback answers in well under 5 ms, a healthy regional endpoint in tens of ms; timeouts default to 5 s. */
export const PROBE_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface ProbeMetrics {
  /** Records one probe cycle (or any set of results). */
  update(results: readonly ProbeResult[]): void;
}

export function registerProbeMetrics(registry: Registry): ProbeMetrics {
  const registers = [registry];
  const up = new Gauge({
    name: 'ssm_endpoint_up',
    help: '1 when the last probe of the endpoint reached it (DNS, TCP, TLS verified, an HTTP answer), else 0.',
    labelNames: ['endpoint', 'host', 'via'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'ssm_endpoint_probe_duration_seconds',
    help: 'Duration of each completed probe phase (dns, tcp, tls, http); via a proxy, tcp includes the CONNECT.',
    labelNames: ['endpoint', 'phase'] as const,
    buckets: PROBE_DURATION_BUCKETS,
    registers,
  });
  const failures = new Counter({
    name: 'ssm_endpoint_probe_failures_total',
    help: 'Failed probes by reason (dns, tcp_timeout, tcp_refused, proxy, tls_handshake, tls_untrusted, http).',
    labelNames: ['endpoint', 'reason'] as const,
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'ssm_endpoint_last_success_timestamp_seconds',
    help: 'Unix time of the last successful probe of the endpoint.',
    labelNames: ['endpoint'] as const,
    registers,
  });
  // Every failure series exists from the start, so rate() and increase() see the first failure.
  for (const endpoint of ENDPOINT_NAMES) for (const reason of REASONS) failures.inc({ endpoint, reason }, 0);

  const upLabels = new Map<EndpointName, { host: string; via: Via }>();
  return {
    update(results) {
      for (const r of results) {
        const previous = upLabels.get(r.endpoint);
        if (previous && (previous.host !== r.host || previous.via !== r.via)) {
          up.remove({ endpoint: r.endpoint, host: previous.host, via: previous.via });
        }
        upLabels.set(r.endpoint, { host: r.host, via: r.via });
        up.set({ endpoint: r.endpoint, host: r.host, via: r.via }, r.ok ? 1 : 0);
        for (const phase of PHASES) {
          const value = r.phases[phase];
          if (value !== undefined && Number.isFinite(value)) duration.observe({ endpoint: r.endpoint, phase }, value);
        }
        if (r.ok) lastSuccess.set({ endpoint: r.endpoint }, r.at.getTime() / 1000);
        else failures.inc({ endpoint: r.endpoint, reason: r.reason ?? 'http' });
      }
    },
  };
}
