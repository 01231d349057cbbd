// Process CPU, memory, event-loop and GC metrics (process_*, nodejs_*: no prefix by default, the names every
// Node.js dashboard knows). prom-client's default metrics, each from its own file but the CPU counters, which are
// written here: prom-client's load @opentelemetry/api for exemplars (+11 MiB of RSS; see prom.ts).
import { createRequire } from 'node:module';
import { Counter, type Registry } from './prom.ts';

type DefaultMetric = (registry: Registry, config: { prefix: string; eventLoopMonitoringPrecision: number }) => void;

const load = createRequire(import.meta.url);

/** prom-client's defaultMetrics.js list, without processCpuTotal. */
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
] as const;

// prom-client names these gauges *_total, which Prometheus reserves for counters (`promtool check metrics`
// rejects them); the handle and request counts they carry are also in *_active_handles / *_active_requests.
const MISNAMED = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** process_cpu_{user,system}_seconds_total and their sum, as prom-client counts them: the usage since the last scrape. */
function registerCpuCounters(registry: Registry, prefix: string): void {
  let last = process.cpuUsage();
  new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers: [registry],
    // This one metric's collect sets all three, as in prom-client (registered first, it is collected first).
    collect() {
      const now = process.cpuUsage();
      const user = (now.user - last.user) / 1e6;
      const sys = (now.system - last.system) / 1e6;
      last = now;
      this.inc(user);
      system.inc(sys);
      total.inc(user + sys);
    },
  });
  const system = new Counter({ name: `${prefix}process_cpu_system_seconds_total`, help: 'Total system CPU time spent in seconds.', registers: [registry] });
  const total = new Counter({ name: `${prefix}process_cpu_seconds_total`, help: 'Total user and system CPU time spent in seconds.', registers: [registry] });
}

/** The process metrics, without the misnamed ones. */
export function collectProcessMetrics(registry: Registry, prefix = ''): void {
  registerCpuCounters(registry, prefix);
  // Event-loop delay sampled every 100 ms rather than prom-client's 10 ms: most of an idle process's CPU otherwise.
  const config = { prefix, eventLoopMonitoringPrecision: 100 };
  for (const name of DEFAULT_METRICS) (load(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, config);
  for (const name of MISNAMED) registry.removeSingleMetric(`${prefix}${name}`);
}
