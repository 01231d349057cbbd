// `npm run bench`: the operator against a real kube-apiserver + etcd, and the node agent on a real systemd host,
// timed. Prints figures; asserts nothing.
//
//   1. spec change → DaemonSet: 50 merge PATCHes of one config, each timed until a watch sees the DaemonSet's
//      new config hash; beside the round trip of a bare GET.
//   1b. operator idle: the operator before any work (no config, no Node), in-cluster credentials vs a kubeconfig,
//      beside a bare Node process.
//   2. scale: 2,000 Nodes in 20 pools and 20 configs; initial sync time and CPU, then RSS, CPU% and reconciles
//      over a quiet window.
//   3. node agent: the node-agent process on a systemd-nspawn host; the converging first pass, then RSS, CPU% and
//      probe rounds over 10 minutes of steady state (probes every 60 s to a loopback HTTPS endpoint on :443).
//   4. probe: one full probe cycle vs one bare TLS handshake to the same loopback endpoint, median of 50.
//   5. fleet: N simulated node agents (FleetClients with bound tokens) connected to the operator's fleet channel, for
//      N in BENCH_FLEET_AGENTS; ramp-up, RSS/CPU while quiet, state change → status latency, API writes per minute.
//
// Knobs for quick runs (defaults are the figures the issue asks for): BENCH_CHANGES, BENCH_NODES, BENCH_POOLS,
// BENCH_QUIET_SECONDS (also the fleet windows), BENCH_NODE_AGENT_SECONDS, BENCH_PROBE_RUNS, BENCH_FLEET_AGENTS (comma-separated
// sizes, default 100,1000,5000), BENCH_ONLY=spec|operator-idle|scale|node-agent|probe|fleet|storm|cluster|ssm. The fleet bench ends with a restart
// storm (the operator restarted under N connected agents); BENCH_ONLY=storm runs it alone at BENCH_STORM_AGENTS (5,000) with short
// windows, and BENCH_OPERATOR_NODE_OPTIONS profiles its operator (e.g. --cpu-prof --cpu-prof-dir=DIR).
//   7. ssm: SSM API calls of one instance sweep with 100 / 1,000 / 5,000 managed instances beside N/50 + 10
//      (BENCH_SSM_INSTANCES), against the SSM emulator.
//   6. cluster: the real cluster (kubelet nodes, helm): image import, apply → all registered beside one node's first
//      pass, container start → first fleet report, a version rollout beside ⌈N/k⌉ × one node's upgrade.
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { Cleanup, withTimeout } from './cleanup.ts';
import { printClusterBench, runClusterBench, type ClusterBenchResult } from './cluster-bench.ts';
import { runFleetScaleBench, sumWrites, type FleetScaleResult, type Writes } from './fleet-scale.ts';
import { runNodeAgentSteadyBench, type NodeAgentSteadyResult } from './node-agent-steady.ts';
import { runOperatorIdleBench, type OperatorIdleResult } from './operator-idle.ts';
import { printProbeBench, runProbeBench, type ProbeBenchResult } from './probe-bench.ts';
import { clkTck } from './proc-stats.ts';
import { runScaleBench, SETTLE_MS, type ScaleResult } from './scale.ts';
import { runSpecChangeBench, type SpecChangeResult } from './spec-change.ts';
import { printSsmSweep, runSsmSweepBench, type SsmSweepResult } from './ssm-sweep-bench.ts';
import { mib, ms, secs, summarize, table, type Summary } from './stats.ts';

const intEnv = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

const CHANGES = intEnv('BENCH_CHANGES', 50);
const NODES = intEnv('BENCH_NODES', 2_000);
const POOLS = intEnv('BENCH_POOLS', 20);
const QUIET_SECONDS = intEnv('BENCH_QUIET_SECONDS', 60);
const NODE_AGENT_SECONDS = intEnv('BENCH_NODE_AGENT_SECONDS', 600);
const PROBE_RUNS = intEnv('BENCH_PROBE_RUNS', 50);
const FLEET_AGENTS = (process.env.BENCH_FLEET_AGENTS || '100,1000,5000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((v) => Number.isInteger(v) && v > 0);
const SSM_INSTANCES = (process.env.BENCH_SSM_INSTANCES || '100,1000,5000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((v) => Number.isInteger(v) && v > 0);
const ONLY = process.env.BENCH_ONLY ?? '';
const BENCHES = ['spec', 'operator-idle', 'scale', 'node-agent', 'probe', 'fleet', 'storm', 'cluster', 'ssm'];
/** BENCH_ONLY=storm: the fleet bench at one size (BENCH_STORM_AGENTS, default 5,000) with short windows, for the restart storm. */
const STORM_AGENTS = intEnv('BENCH_STORM_AGENTS', 5_000);
/** NODE_OPTIONS for the operator process of the fleet bench (e.g. `--cpu-prof --cpu-prof-dir=…`, `--heapsnapshot-signal=SIGUSR2`). */
const OPERATOR_NODE_OPTIONS = process.env.BENCH_OPERATOR_NODE_OPTIONS ?? '';
/** With --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR in BENCH_OPERATOR_NODE_OPTIONS: DIR, to take one after the storm. */
const HEAP_SNAPSHOT_DIR = process.env.BENCH_HEAP_SNAPSHOT_DIR ?? '';
/** The whole run is bounded: a hang ends with cleanup and a non-zero exit. */
const OVERALL_TIMEOUT_MS = 30 * 60_000 + (ONLY === '' || ONLY === 'cluster' ? 30 * 60_000 : 0) + NODE_AGENT_SECONDS * 1000 + (ONLY === 'storm' ? 300_000 + STORM_AGENTS * 60 : 0) + (ONLY === '' || ONLY === 'fleet' ? FLEET_AGENTS.reduce((a, n) => a + 120_000 + 2 * QUIET_SECONDS * 1000 + n * 60, 0) : 0);

const cleanup = new Cleanup();
const t0 = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: cleaning up…`);
    void cleanup.runAll().finally(() => process.exit(130));
  });
}

const summaryRow = (label: string, s: Summary): string[] => [label, String(s.n), ms(s.min), ms(s.median), ms(s.p99), ms(s.max), ms(s.mean)];

function printSpecChange(r: SpecChangeResult): void {
  console.log(`\n1. Spec change → DaemonSet carries it`);
  console.log(`   1 SsmAgentConfig over ${r.nodes} Ready Nodes; operator as a child process; kube-controller-manager running (DaemonSet status is real).`);
  console.log(`   Each change: merge PATCH of spec.agent.version (3.3.1.N); timed from the PATCH's return until a watch on the DaemonSet`);
  console.log(`   sees the pod template's ssmagent.io/revision of the new rendering. The next change waits until the operator is quiet.\n`);
  console.log(
    table([
      ['', 'n', 'min', 'median', 'p99', 'max', 'mean (ms)'],
      summaryRow('PATCH returned → DaemonSet has new hash', r.toDaemonSet),
      summaryRow('PATCH round trip (for scale)', r.patchRoundTrip),
      summaryRow('bare GET SsmAgentConfig round trip', r.bareGet),
    ]),
  );
  const n = r.toDaemonSet.n;
  console.log(`\n   p99 is nearest-rank${Math.ceil(0.99 * n) >= n ? `: with ${n} samples it is the largest one` : ''}.`);
  console.log(`   DaemonSet update seen before the PATCH response arrived: ${r.earlyArrivals} of ${r.changes} (counted as 0 ms).`);
  console.log(`   Reconciles during the ${r.changes} changes: ${r.reconciles} (${(r.reconciles / r.changes).toFixed(1)} per change; ${r.reconcileErrors} errors).`);
  const procRow = (label: string, p: SpecChangeResult['operatorAfter'], heapBytes: number) => [label, mib(p.rssKb), mib(p.hwmKb), mib(heapBytes / 1024), `${p.cpuSeconds.toFixed(2)} s`];
  const rows = [
    ['operator process', 'VmRSS', 'VmHWM', 'V8 heap used', 'CPU total'],
    procRow('before the changes', r.operatorBefore, r.heapUsedBefore),
    procRow('after the changes', r.operatorAfter, r.heapUsedAfter),
  ];
  console.log(`\n${table(rows)}`);
}

function printOperatorIdle(r: OperatorIdleResult): void {
  console.log(`\n1b. Operator before any work: CRD installed, no SsmAgentConfig, no Node; 10 s after /readyz, 6 samples 2 s apart`);
  console.log(`   In-cluster: a real ServiceAccount token and the CA in files, KUBERNETES_SERVICE_HOST/PORT, no kubeconfig (as in a pod);`);
  console.log(`   both runs with the compile cache warmed as the image's is. The bare Node process is sampled at the same moments.\n`);
  const ratio = (kb: number) => `${(kb / r.bareNodeRssAvgKb).toFixed(2)}×`;
  console.log(
    table([
      ['operator process', 'VmRSS avg', '÷ bare Node', 'VmHWM', 'V8 heap used'],
      ['in-cluster credentials (goal ≤ 90 MiB)', mib(r.inCluster.rssAvgKb), ratio(r.inCluster.rssAvgKb), mib(r.inCluster.hwmKb), mib(r.inCluster.heapUsedBytes / 1024)],
      ['kubeconfig (@kubernetes/client-node loaded)', mib(r.kubeconfig.rssAvgKb), ratio(r.kubeconfig.rssAvgKb), mib(r.kubeconfig.hwmKb), mib(r.kubeconfig.heapUsedBytes / 1024)],
      ['bare Node process (reference)', mib(r.bareNodeRssAvgKb), '1.00×', '', ''],
    ]),
  );
}

function printScale(r: ScaleResult): void {
  const fmt = (m: Map<string, number>) => [...m].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  console.log(`\n2. Scale: ${r.nodes} Nodes in ${r.configs} pools (label pool=p0..p${r.configs - 1}), ${r.configs} SsmAgentConfigs (one pool each)`);
  console.log(`   Control plane WITHOUT kube-controller-manager (keeps the 2 cores for apiserver + operator): DaemonSets get no status and no pods.`);
  console.log(`   Nodes are bare (no kubelet status); their admission-added not-ready:NoSchedule taint was removed so every node is selectable.`);
  console.log(`   Creating the Nodes took ${secs(r.createNodesMs)} (POST + taint PATCH, 32 in flight); not part of any figure below.\n`);
  console.log(
    table([
      ['measure', 'value'],
      ['operator spawn → /readyz (caches listed)', secs(r.readyMs)],
      ['operator spawn → all configs have status.observedGeneration', secs(r.initialSyncMs)],
      ['CPU used, spawn → /readyz (Node start-up + lists)', `${r.readyCpuSeconds.toFixed(2)} s`],
      ['CPU used, spawn → initial sync done', `${r.initialSyncCpuSeconds.toFixed(2)} s`],
      ['reconciles, spawn → initial sync done', fmt(r.initialSyncReconciles)],
      [`operator spawn → last start-up reconcile (then ${SETTLE_MS / 1000} s still)`, secs(r.settledMs)],
      ['CPU used, spawn → last start-up reconcile', `${r.settledCpuSeconds.toFixed(2)} s`],
      ['reconciles, spawn → last start-up reconcile', fmt(r.settledReconciles)],
      ['DaemonSets created / configs Conflicted', `${r.daemonSets} / ${r.conflicted}`],
      ['RSS when status is on all configs (VmRSS / VmHWM)', `${mib(r.atSync.rssKb)} / ${mib(r.atSync.hwmKb)}`],
      [`quiet window (${(r.quiet.windowMs / 1000).toFixed(1)} s): RSS average / max (goal ≤ 150 MiB)`, `${mib(r.quiet.rssAvgKb)} / ${mib(r.quiet.rssMaxKb)}`],
      ['quiet window: peak RSS since start (VmHWM)', mib(r.quiet.hwmKb)],
      ['quiet window end: V8 heap used', mib(r.quiet.heapUsedBytes / 1024)],
      ['quiet window: operator CPU (of one core)', `${r.quiet.cpuPercent.toFixed(2)} %`],
      ['quiet window: reconciles', String(r.quiet.reconciles)],
      ...[...r.quiet.controlPlaneCpuPercent].map(([name, pct]) => [`quiet window: ${name} CPU (of one core)`, `${pct.toFixed(2)} %`]),
    ]),
  );
}

function printNodeAgent(r: NodeAgentSteadyResult): void {
  const f = r.firstPass;
  const w = r.window;
  const minutes = w.ms / 60_000;
  console.log(`\n3. Node agent: the node-agent process on a real systemd host, steady state`);
  console.log(`   Host: ${r.hostOs} (${r.systemdVersion}) booted with systemd-nspawn; the agent acts on it through nsenter into its PID 1.`);
  console.log(`   Agent package: the test stand-in amazon-ssm-agent ${r.agentVersion} (.deb) from a loopback mirror, OpenPGP-signed with a throwaway key;`);
  console.log(`   hybrid registration with the stand-in. Probes every ${r.probeIntervalSeconds} s of all four endpoints (set to localhost) to a real HTTPS`);
  console.log(`   server on 127.0.0.1:443 (test-CA certificate for localhost, PROBE_CA_FILE); a pass over the host every ${r.passIntervalSeconds} s. LOG_LEVEL info.\n`);
  console.log(
    table([
      ['first (converging) pass', 'value'],
      ['steps of the first pass', Object.entries(f.steps).map(([k, v]) => `${k} ${v}`).join(', ')],
      ['spawn → /metrics answers (start-up)', secs(f.metricsUpMs)],
      ['CPU, spawn → /metrics answers (Node start-up, module loading)', `${f.metricsUpCpuSeconds.toFixed(2)} s`],
      ['spawn → first pass done, host registered (polled every 250 ms)', secs(f.doneMs)],
      ['CPU of the node agent, spawn → first pass done', `${f.cpuSeconds.toFixed(2)} s`],
      ['  of which the pass (and first probe round) after start-up', `${(f.cpuSeconds - f.metricsUpCpuSeconds).toFixed(2)} s`],
      ['CPU of the host commands it ran (nsenter → dpkg, systemctl, …)', `${f.childCpuSeconds.toFixed(2)} s`],
      ['RSS when the first pass is done (VmRSS / VmHWM)', `${mib(f.rssKb)} / ${mib(f.hwmKb)}`],
      [`  (the pass downloaded, verified and installed a ${f.packageMiB} MiB package: VmHWM is the limit's figure)`, ''],
    ]),
  );
  const rounds = Object.values(w.probeRounds);
  const roundsText = new Set(rounds).size === 1 ? String(rounds[0]) : Object.entries(w.probeRounds).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`\n${table([
    [`steady state (${(w.ms / 1000).toFixed(1)} s, ${w.samples} samples every ${((w.ms / Math.max(1, w.samples - 1)) / 1000).toFixed(0)} s)`, 'value'],
    ['RSS min / avg / max (VmRSS)', `${mib(w.rssMinKb)} / ${mib(w.rssAvgKb)} / ${mib(w.rssMaxKb)}`],
    ['bare Node process, same samples (reference): RSS avg', mib(r.bareNodeRssAvgKb)],
    ['node agent RSS avg ÷ bare Node (goal ≤ 1.5×)', `${(w.rssAvgKb / r.bareNodeRssAvgKb).toFixed(2)}×`],
    ['RSS at the start / at the end of the window', `${mib(w.rssFirstKb)} / ${mib(w.rssLastKb)}`],
    ['peak RSS since spawn (VmHWM at the end)', mib(w.hwmKb)],
    ['V8 heap used at the start / at the end', `${mib(w.heapUsedFirstBytes / 1024)} / ${mib(w.heapUsedLastBytes / 1024)}`],
    ['CPU of the node agent (average, of one core)', `${w.cpuPercent.toFixed(3)} %`],
    ['CPU seconds of the node agent in the window', `${w.cpuSeconds.toFixed(2)} s (${(w.cpuSeconds / minutes).toFixed(3)} s per minute)`],
    ['CPU seconds of host commands in the window (passes)', `${w.childCpuSeconds.toFixed(2)} s`],
    ['passes over the host completed in the window', String(w.passes)],
    ['probe rounds in the window (ssm_endpoint_probe_duration_seconds_count)', roundsText],
    ['HTTPS requests the :443 endpoint answered in the window', String(w.requestsServed)],
    ['probe phases, mean over the window (dns / tcp / tls / http)', ['dns', 'tcp', 'tls', 'http'].map((p) => ms(w.phaseMeanMs[p] ?? Number.NaN)).join(' / ') + ' ms'],
    ['probe failures / step failures in the window', `${w.probeFailures} / ${w.stepFailures}`],
    ['/metrics scrapes by the bench in the window (in the CPU figure)', String(w.scrapes)],
    ['warnings or errors in the node agent log (whole run)', String(r.logWarnings)],
  ])}`);
  console.log(`\n   ssm_endpoint_up at the end:`);
  for (const [labels, v] of r.endpointUp) console.log(`     ssm_endpoint_up{${labels}} ${v}`);
}

function printFleet(results: readonly FleetScaleResult[]): void {
  const first = results[0];
  if (!first) return;
  console.log(`\n5. Fleet channel at scale: N simulated node agents (FleetClient, in the bench process) → the operator (child process)`);
  console.log(`   Control plane WITHOUT kube-controller-manager; N bare Nodes (pool=fleet, not-ready taint removed), one SsmAgentConfig`);
  console.log(`   selecting them; each agent has a Pod bound to its Node and a TokenRequest token for ServiceAccount ssm-node-agent-<config>.`);
  console.log(`   Agents connect at most 32 at a time (each waits for its welcome); heartbeats every 60 s (the default).`);
  console.log(`   Writes are apiserver_request_total{verb=~"POST|PUT|PATCH|APPLY|DELETE"} deltas over a window (all clients; the bench itself writes`);
  console.log(`   nothing then, so they are the operator's and the apiserver's own), scaled to a minute.\n`);
  const col = (f: (r: FleetScaleResult) => string) => results.map(f);
  const perMin = (w: Writes, windowMs: number, pick?: (k: string) => boolean) => {
    const total = [...w].filter(([k]) => !pick || pick(k)).reduce((a, [, v]) => a + v, 0);
    return (total / (windowMs / 60_000)).toFixed(1);
  };
  // The apiserver's own writes (its identity leases, the kubernetes Endpoints reconciler) are not the operator's.
  const isOperator = (k: string) => !/^(PUT leases|POST endpoints)$/.test(k);
  const cpNames = [...new Set(results.flatMap((r) => [...r.quiet.controlPlaneCpuPercent.keys()]))];
  console.log(
    table([
      ['N agents', ...col((r) => String(r.agents))],
      ['setup: Nodes / Pods / tokens (context only)', ...col((r) => `${secs(r.setupMs.nodes)} / ${secs(r.setupMs.pods)} / ${secs(r.setupMs.tokens)}`)],
      ['operator spawn → /readyz', ...col((r) => secs(r.operatorReadyMs))],
      ['operator RSS before any agent', ...col((r) => mib(r.rssBeforeAgentsKb))],
      ['ramp-up: time to connect all N (welcomed)', ...col((r) => secs(r.connectAllMs))],
      ['ramp-up: operator CPU to accept all N', ...col((r) => `${r.connectCpuSeconds.toFixed(2)} s`)],
      ['ramp-up: connection attempts / refusals (HTTP 4xx/5xx)', ...col((r) => `${r.connectAttempts} / ${r.connectRejections}`)],
      ['ramp-up start → status.nodes.registered == N', ...col((r) => secs(r.statusAllMs))],
      ['operator CPU, ramp-up start → status counts N', ...col((r) => `${r.statusAllCpuSeconds.toFixed(2)} s`)],
      ['RSS then (VmRSS / VmHWM)', ...col((r) => `${mib(r.rssAfterConnectKb)} / ${mib(r.hwmAfterConnectKb)}`)],
      ['quiet window length', ...col((r) => secs(r.quiet.ms))],
      ['quiet: operator RSS avg / max', ...col((r) => `${mib(r.quiet.rssAvgKb)} / ${mib(r.quiet.rssMaxKb)}`)],
      ['quiet: operator V8 heap used (end)', ...col((r) => mib(r.heapUsedBytes / 1024))],
      ['quiet: operator CPU (of one core)', ...col((r) => `${r.quiet.cpuPercent.toFixed(2)} %`)],
      ...cpNames.map((name) => [`quiet: ${name} CPU (of one core)`, ...col((r) => `${(r.quiet.controlPlaneCpuPercent.get(name) ?? Number.NaN).toFixed(2)} %`)]),
      ['quiet: API writes / min (all)', ...col((r) => perMin(r.quiet.writes, r.quiet.ms))],
      ['quiet: API writes / min (operator: without the apiserver’s leases, endpoints)', ...col((r) => perMin(r.quiet.writes, r.quiet.ms, isOperator))],
      ...(() => {
        const s = (r: FleetScaleResult) => summarize(r.latencyMs);
        return [
          ['state change → status.agentVersions: median', ...col((r) => `${ms(s(r).median)} ms`)],
          ['  min / max (n)', ...col((r) => `${ms(s(r).min)} / ${ms(s(r).max)} ms (${s(r).n})`)],
        ];
      })(),
      ['quiet: operator reconciles', ...col((r) => String(r.quiet.reconciles))],
      ['change window: state changes sent / reconciles', ...col((r) => `${r.changeWindow.changes} / ${r.changeWindow.reconciles}`)],
      ['change window: operator CPU (of one core)', ...col((r) => `${r.changeWindow.cpuPercent.toFixed(2)} %`)],
      ['change window: API writes / min (all)', ...col((r) => perMin(r.changeWindow.writes, r.changeWindow.ms))],
      ['change window: API writes / min (operator only)', ...col((r) => perMin(r.changeWindow.writes, r.changeWindow.ms, isOperator))],
      ['operator warn/error log lines (whole run)', ...col((r) => String(r.operatorWarnings))],
      ['bench process RSS (holds the N clients)', ...col((r) => mib(r.benchRssKb))],
      ['wall time of this size', ...col((r) => secs(r.wallMs))],
    ]),
  );
  const perAgentKb = (r: FleetScaleResult) => (r.storm.rssKb - r.rssBeforeAgentsKb) / r.agents;
  console.log(`\n   Restart storm: SIGTERM to the operator under N connected agents (it closes them with 1001), a new operator process on the same`);
  console.log(`   port; agents reconnect with full jitter over their ${secs(first.storm.reconnectWindowMs)} reconnect window (the node agent's default). Goals (issue 11):`);
  console.log(`   5,000 agents back ≤ 30 s; operator with 5,000 connected ≤ 400 MB and ≤ 40 KB per agent.\n`);
  console.log(
    table([
      ['N agents', ...col((r) => String(r.agents))],
      ['SIGTERM → all N back (welcomed by the new operator)', ...col((r) => secs(r.storm.allBackMs))],
      ['  reference: the reconnect window the agents spread over', ...col((r) => secs(r.storm.reconnectWindowMs))],
      ['  reference: old operator SIGTERM → exited / new one spawn → first agent back', ...col((r) => `${secs(r.storm.stopMs)} / ${secs(r.storm.readyMs)}`)],
      ['peak TokenReviews in flight (operator gauge)', ...col((r) => String(r.storm.reviewsPeakInFlight))],
      ['  reference: upgrades authenticated at once before 503 (cap)', ...col(() => '256')],
      ['TokenReviews sent / connection attempts (agents)', ...col((r) => `${r.storm.reviews} / ${r.storm.attempts}`)],
      ['refusals by reason', ...col((r) => [...r.storm.rejectedByReason].map(([k, v]) => `${k} ${v}`).join(', ') || 'none')],
      ['new operator CPU, first agent back → all back; per connection', ...col((r) => `${r.storm.cpuAfterReadySeconds.toFixed(2)} s; ${((r.storm.cpuAfterReadySeconds * 1000) / r.agents).toFixed(2)} ms`)],
      ['  reference: ramp-up CPU per connection (first operator)', ...col((r) => `${((r.connectCpuSeconds * 1000) / r.agents).toFixed(2)} ms`)],
      ['operator RSS with N connected (VmRSS / VmHWM)', ...col((r) => `${mib(r.storm.rssKb)} / ${mib(r.storm.hwmKb)}`)],
      ['  per agent, above the first operator before any agent', ...col((r) => `${perAgentKb(r).toFixed(1)} KiB`)],
      ['  reference: operator RSS before any agent', ...col((r) => mib(r.rssBeforeAgentsKb))],
      ['V8 heap used with N connected', ...col((r) => mib(r.storm.heapUsedBytes / 1024))],
    ]),
  );
  for (const r of results) {
    const fmt = (w: Writes) => [...w].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    console.log(`\n   N=${r.agents}: writes in the quiet window (${sumWrites(r.quiet.writes)}): ${fmt(r.quiet.writes)}`);
    console.log(`   N=${r.agents}: writes in the change window (${sumWrites(r.changeWindow.writes)}): ${fmt(r.changeWindow.writes)}`);
    console.log(`   N=${r.agents}: status.agentVersions after the change window: ${r.changeWindow.agentVersionsAtEnd}`);
    if (r.operatorWarningSamples.length > 0) console.log(`   N=${r.agents}: operator warnings: ${r.operatorWarningSamples.join(' | ')}`);
  }
}

async function main(): Promise<number> {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  console.log('ssm-agent-operator benchmarks');
  console.log(`machine: ${availableParallelism()} CPUs (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; Node ${process.version}; CLK_TCK ${clkTck()}\n`);

  let spec: SpecChangeResult | undefined;
  let scale: ScaleResult | undefined;
  let idle: OperatorIdleResult | undefined;
  let nodeAgent: NodeAgentSteadyResult | undefined;
  let probe: ProbeBenchResult | undefined;
  const fleet: FleetScaleResult[] = [];
  let cluster: ClusterBenchResult | undefined;
  let ssm: SsmSweepResult | undefined;
  const failures: string[] = [];
  if (ONLY !== '' && !BENCHES.includes(ONLY)) {
    console.error(`BENCH_ONLY=${ONLY}: not one of ${BENCHES.join(', ')} (or empty for all)`);
    return 2;
  }
  if (ONLY === '' || ONLY === 'spec') {
    try {
      spec = await runSpecChangeBench({ changes: CHANGES, nodes: 3, bareGets: 50, log }, cleanup);
      log(`spec-change benchmark done in ${secs(spec.wallMs)}`);
    } catch (err) {
      failures.push(`spec-change: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (!interrupted && (ONLY === '' || ONLY === 'operator-idle')) {
    try {
      idle = await runOperatorIdleBench({ log }, cleanup);
      log(`operator-idle benchmark done in ${secs(idle.wallMs)}`);
    } catch (err) {
      failures.push(`operator-idle: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (!interrupted && (ONLY === '' || ONLY === 'scale')) {
    try {
      scale = await runScaleBench({ nodes: NODES, pools: POOLS, quietWindowMs: QUIET_SECONDS * 1000, concurrency: 32, log }, cleanup);
      log(`scale benchmark done in ${secs(scale.wallMs)}`);
    } catch (err) {
      failures.push(`scale: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (!interrupted && (ONLY === '' || ONLY === 'node-agent')) {
    try {
      nodeAgent = await runNodeAgentSteadyBench({ windowMs: NODE_AGENT_SECONDS * 1000, sampleIntervalMs: 10_000, log }, cleanup);
      log(`node-agent benchmark done in ${secs(nodeAgent.wallMs)}`);
    } catch (err) {
      failures.push(`node-agent: ${(err as Error).stack ?? String(err)}`);
    }
  }
  if (!interrupted && (ONLY === '' || ONLY === 'probe')) {
    try {
      probe = await runProbeBench({ runs: PROBE_RUNS }, cleanup);
      log('probe benchmark done');
    } catch (err) {
      failures.push(`probe: ${(err as Error).stack ?? String(err)}`);
    }
  }

  if (!interrupted && (ONLY === '' || ONLY === 'fleet')) {
    for (const agents of FLEET_AGENTS) {
      if (interrupted) break;
      try {
        const r = await runFleetScaleBench({ agents, windowMs: QUIET_SECONDS * 1000, windowChanges: 5, latencyChanges: 10, concurrency: 32, log }, cleanup);
        fleet.push(r);
        log(`fleet benchmark with ${agents} agents done in ${secs(r.wallMs)}`);
      } catch (err) {
        failures.push(`fleet (${agents} agents): ${(err as Error).stack ?? String(err)}`);
        break;
      }
    }
  }

  if (!interrupted && ONLY === 'storm') {
    try {
      const operatorEnv = OPERATOR_NODE_OPTIONS ? { NODE_OPTIONS: OPERATOR_NODE_OPTIONS } : undefined;
      const r = await runFleetScaleBench({ agents: STORM_AGENTS, windowMs: 3_000, windowChanges: 1, latencyChanges: 2, concurrency: 64, ...(operatorEnv ? { operatorEnv } : {}), ...(HEAP_SNAPSHOT_DIR ? { heapSnapshotDir: HEAP_SNAPSHOT_DIR } : {}), log }, cleanup);
      fleet.push(r);
      log(`storm benchmark with ${STORM_AGENTS} agents done in ${secs(r.wallMs)}`);
    } catch (err) {
      failures.push(`storm (${STORM_AGENTS} agents): ${(err as Error).stack ?? String(err)}`);
    }
  }

  if (!interrupted && (ONLY === '' || ONLY === 'ssm')) {
    try {
      ssm = await runSsmSweepBench({ sizes: SSM_INSTANCES, coldUpTo: 1_000, log }, cleanup);
      log(`SSM sweep benchmark done in ${secs(ssm.wallMs)}`);
    } catch (err) {
      failures.push(`ssm: ${(err as Error).stack ?? String(err)}`);
    }
  }

  if (!interrupted && (ONLY === '' || ONLY === 'cluster')) {
    try {
      cluster = await runClusterBench({ log }, cleanup);
      log(`cluster benchmark done in ${secs(cluster.wallMs)}`);
    } catch (err) {
      failures.push(`cluster: ${(err as Error).stack ?? String(err)}`);
    }
  }

  const k8s = spec?.kubernetesVersion ?? scale?.kubernetesVersion ?? fleet[0]?.kubernetesVersion ?? 'unknown';
  console.log('\n==================================================================== results');
  console.log(
    table([
      ['machine', 'value'],
      ['nproc', String(availableParallelism())],
      ['CPU', model],
      ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
      ['Node.js (bench, operator, node agent)', process.version],
      ...(spec || scale || fleet.length > 0 ? [['Kubernetes (kube-apiserver, etcd on loopback)', k8s]] : []),
      ...(nodeAgent ? [['node agent host', `${nodeAgent.hostOs}, ${nodeAgent.systemdVersion}`]] : []),
    ]),
  );
  if (spec) printSpecChange(spec);
  if (idle) printOperatorIdle(idle);
  if (scale) printScale(scale);
  if (nodeAgent) printNodeAgent(nodeAgent);
  if (probe) printProbeBench(probe);
  printFleet(fleet);
  if (ssm) printSsmSweep(ssm);
  if (cluster) printClusterBench(cluster);
  console.log(`\nwhole bench, end to end: ${secs(performance.now() - t0)}`);
  for (const f of failures) console.error(`\nFAILED ${f}`);
  return failures.length > 0 ? 1 : 0;
}

let code = 1;
try {
  code = await withTimeout(main(), OVERALL_TIMEOUT_MS, 'the whole benchmark run');
} catch (err) {
  console.error((err as Error).stack ?? String(err));
} finally {
  await cleanup.runAll();
}
process.exit(code);
