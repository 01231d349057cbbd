// The fleet channel's metrics, registered once on the process's registry.
import { Counter, Gauge, type Registry } from '../lib/prom.ts';

export interface FleetMetrics {
  connected: Gauge;
  rejected: Counter<'reason'>;
  closed: Counter<'reason'>;
  reviews: Counter<'result'>;
  reviewsInFlight: Gauge;
  reviewsInFlightPeak: Gauge;
}

/** Registers the fleet metrics, or finds them when a server was already started on this registry. */
export function fleetMetrics(registry: Registry): FleetMetrics {
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    connected:
      existing<Gauge>('ssm_operator_agents_connected') ??
      new Gauge({ name: 'ssm_operator_agents_connected', help: 'Node agents connected over the fleet channel (one per node).', registers: [registry] }),
    rejected:
      existing<Counter<'reason'>>('ssm_operator_fleet_rejected_total') ??
      new Counter({
        name: 'ssm_operator_fleet_rejected_total',
        help: 'Fleet connections refused before the upgrade, by reason (no_token, unauthenticated, audience, not_node_agent, not_bound, node_mismatch, review_failed, rate_limited, connection_cap, …).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
    closed:
      existing<Counter<'reason'>>('ssm_operator_fleet_closed_total') ??
      new Counter({
        name: 'ssm_operator_fleet_closed_total',
        help: 'Fleet connections the operator closed, by reason (invalid, too_large, heartbeat_timeout, replaced, rate_limited, …).',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
    reviews:
      existing<Counter<'result'>>('ssm_operator_fleet_token_reviews_total') ??
      new Counter({
        name: 'ssm_operator_fleet_token_reviews_total',
        help: 'TokenReviews the fleet server sent to the API server, by result (accepted, refused, error); cached answers are not counted.',
        labelNames: ['result'] as const,
        registers: [registry],
      }),
    reviewsInFlight:
      existing<Gauge>('ssm_operator_fleet_token_reviews_in_flight') ??
      new Gauge({ name: 'ssm_operator_fleet_token_reviews_in_flight', help: 'TokenReviews of the fleet server waiting for the API server now.', registers: [registry] }),
    reviewsInFlightPeak:
      existing<Gauge>('ssm_operator_fleet_token_reviews_in_flight_peak') ??
      new Gauge({
        name: 'ssm_operator_fleet_token_reviews_in_flight_peak',
        help: 'The most TokenReviews the fleet server has had in flight at once since it started (a storm of reconnects shows here).',
        registers: [registry],
      }),
  };
}
