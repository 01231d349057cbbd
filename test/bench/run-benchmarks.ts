// `npm run bench`: the operator against a real kube-apiserver + etcd, timed. Prints figures; asserts nothing.
//
//   1. spec change → DaemonSet: 50 merge PATCHes of one config, each timed until a watch sees the DaemonSet's
//      new config hash; beside the round trip of a bare GET.
//   2. scale: 2,000 Nodes in 20 pools and 20 configs; initial sync time and CPU, then RSS, CPU% and reconciles
//      over a quiet window.
//
// Knobs for quick runs (defaults are the figures the issue asks for): BENCH_CHANGES, BENCH_NODES, BENCH_POOLS,
// BENCH_QUIET_SECONDS, BENCH_ONLY=spec|scale.
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { Cleanup, withTimeout } from './cleanup.ts';
import { clkTck } from './proc-stats.ts';
import { runScaleBench, SETTLE_MS, type ScaleResult } from './scale.ts';
import { runSpecChangeBench, type SpecChangeResult } from './spec-change.ts';
import { mib, ms, secs, table, type Summary } from './stats.ts';

const intEnv = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

const CHANGES = intEnv('BENCH_CHANGES', 50);
const NODES = intEnv('BENCH_NODES', 2_000);
const POOLS = intEnv('BENCH_POOLS', 20);
const QUIET_SECONDS = intEnv('BENCH_QUIET_SECONDS', 60);
const ONLY = process.env.BENCH_ONLY ?? '';
/** The whole run is bounded: a hang ends with cleanup and a non-zero exit. */
const OVERALL_TIMEOUT_MS = 30 * 60_000;

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
  console.log(`   sees the pod template's ssmagent.io/config-hash of the new rendering. The next change waits until the operator is quiet.\n`);
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
      [`quiet window (${(r.quiet.windowMs / 1000).toFixed(1)} s): RSS average / max`, `${mib(r.quiet.rssAvgKb)} / ${mib(r.quiet.rssMaxKb)}`],
      ['quiet window: peak RSS since start (VmHWM)', mib(r.quiet.hwmKb)],
      ['quiet window end: V8 heap used', mib(r.quiet.heapUsedBytes / 1024)],
      ['quiet window: operator CPU (of one core)', `${r.quiet.cpuPercent.toFixed(2)} %`],
      ['quiet window: reconciles', String(r.quiet.reconciles)],
      ...[...r.quiet.controlPlaneCpuPercent].map(([name, pct]) => [`quiet window: ${name} CPU (of one core)`, `${pct.toFixed(2)} %`]),
    ]),
  );
}

async function main(): Promise<number> {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  console.log('ssm-agent-operator benchmarks');
  console.log(`machine: ${availableParallelism()} CPUs (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; Node ${process.version}; CLK_TCK ${clkTck()}\n`);

  let spec: SpecChangeResult | undefined;
  let scale: ScaleResult | undefined;
  const failures: string[] = [];
  if (ONLY === '' || ONLY === 'spec') {
    try {
      spec = await runSpecChangeBench({ changes: CHANGES, nodes: 3, bareGets: 50, log }, cleanup);
      log(`spec-change benchmark done in ${secs(spec.wallMs)}`);
    } catch (err) {
      failures.push(`spec-change: ${(err as Error).stack ?? String(err)}`);
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

  const k8s = spec?.kubernetesVersion ?? scale?.kubernetesVersion ?? 'unknown';
  console.log('\n==================================================================== results');
  console.log(
    table([
      ['machine', 'value'],
      ['nproc', String(availableParallelism())],
      ['CPU', model],
      ['memory', `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
      ['Node.js (bench and operator)', process.version],
      ['Kubernetes (kube-apiserver, etcd on loopback)', k8s],
    ]),
  );
  if (spec) printSpecChange(spec);
  if (scale) printScale(scale);
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
