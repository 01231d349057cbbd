import { collectDefaultMetrics, type Registry } from 'prom-client';

// prom-client names these gauges *_total, which Prometheus reserves for counters (`promtool check metrics`
// rejects them); the handle and request counts they carry are also in *_active_handles / *_active_requests.
const MISNAMED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Process CPU, memory, event-loop and GC metrics (process_*, nodejs_*: no prefix by default, the names every
 * Node.js dashboard knows), without the misnamed ones. */
export function collectProcessMetrics(registry: Registry, prefix = ''): void {
  // Event-loop delay sampled every 100 ms rather than prom-client's 10 ms: most of an idle process's CPU otherwise.
  collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: 100 });
  for (const name of MISNAMED) registry.removeSingleMetric(`${prefix}${name}`);
}
