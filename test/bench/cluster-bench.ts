// The real cluster (test/harness/cluster/): 3 kubelet nodes, the chart installed with helm, a Hybrid config with a
// managed activation. Each figure is printed beside a reference measured in the same run, so ratios survive a
// noisy machine:
//   - image import into each node's containerd (the node's own ssm-node-images unit, systemd's timestamps);
//   - kubectl apply → all N nodes registered in status, beside the slowest single node's first pass (its node
//     agent's container start → its pod Ready, i.e. its host converged);
//   - node-agent container start → first report over the fleet channel (the node agent's own log);
//   - a version rollout over N nodes with maxUnavailable 1, beside ⌈N/k⌉ × one node's upgrade (its new pod's
//     creation → Ready), measured in the same rollout.
import type { Cleanup } from './cleanup.ts';
import { hybridConfigYaml, NAMESPACE, startProductCluster, type ProductCluster } from '../harness/cluster/product.ts';
import { waitFor } from '../harness/wait.ts';

const V1 = '3.3.1142.0';
const V2 = '3.3.1200.0';
const CONFIG = 'bench';

export interface ClusterBenchResult {
  nodes: number;
  appImageBytes: number;
  importSeconds: Record<string, number>;
  applyToRegisteredMs: number;
  firstPassMs: Record<string, number>;
  startToFleetReportMs: Record<string, number>;
  rolloutMs: number;
  nodeUpgradeMs: Record<string, number>;
  /** where a rollout's time goes, node by node (ms since the apply; this process's clock, polled every 250 ms) */
  rolloutSteps: RolloutSteps[];
  wallMs: number;
}

export interface RolloutSteps {
  node: string;
  /** the old pod got its deletionTimestamp */
  oldDeleting?: number;
  /** the old pod is gone from the API */
  oldGone?: number;
  /** the new pod exists */
  newCreated?: number;
  /** the new pod's node agent logged "node agent started" */
  agentStarted?: number;
  /** the new host's package manager reports the new version */
  hostChanged?: number;
  /** the new pod is Ready */
  newReady?: number;
}

interface Pod {
  metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { conditions?: { type: string; status: string; lastTransitionTime?: string }[]; containerStatuses?: { state?: { running?: { startedAt?: string } } }[] };
}

const configYaml = (p: ProductCluster, version: string) => hybridConfigYaml(p, { name: CONFIG, version, deletionPolicy: 'Retain' });

const readyAt = (pod: Pod) => Date.parse(pod.status.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime ?? '');
const startedAt = (pod: Pod) => Date.parse(pod.status.containerStatuses?.[0]?.state?.running?.startedAt ?? '');

export async function runClusterBench(opts: { log(line: string): void }, cleanup: Cleanup): Promise<ClusterBenchResult> {
  const t0 = performance.now();
  const p = await startProductCluster({ versions: [V1, V2] });
  const stop = cleanup.defer('the bench cluster', () => p.stop());
  try {
    const pods = async () => (JSON.parse(await p.kubectl(['get', 'pods', '-n', NAMESPACE, '-l', `ssmagent.io/config=${CONFIG}`, '-o', 'json'])) as { items: Pod[] }).items;
    const importSeconds: Record<string, number> = {};
    for (const node of p.cluster.nodes) {
      const r = await node.host.run(['systemctl', 'show', 'ssm-node-images', '-p', 'ExecMainStartTimestampMonotonic', '-p', 'ExecMainExitTimestampMonotonic']);
      const v = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
      importSeconds[node.name] = (Number(v.ExecMainExitTimestampMonotonic) - Number(v.ExecMainStartTimestampMonotonic)) / 1e6;
    }
    opts.log(`cluster up; helm install…`);
    const installed = await p.helmInstall();
    if (installed.code !== 0) throw new Error(`helm install: ${installed.stderr}`);
    const n = p.nodeNames.length;
    const applied = Date.now();
    await p.kubectl(['apply', '-f', '-'], configYaml(p, V1));
    await waitFor('all nodes registered', async () => {
      const s = JSON.parse(await p.kubectl(['get', 'sac', CONFIG, '-o', 'json'])) as { status?: { nodes?: { registered?: number } } };
      return s.status?.nodes?.registered === n;
    }, 600_000, 250);
    const applyToRegisteredMs = Date.now() - applied;
    await p.kubectl(['rollout', 'status', `daemonset/ssm-node-agent-${CONFIG}`, '-n', NAMESPACE, '--timeout=300s']);
    const firstPassMs: Record<string, number> = {};
    const startToFleetReportMs: Record<string, number> = {};
    for (const pod of await pods()) {
      const node = pod.spec.nodeName ?? '?';
      firstPassMs[node] = readyAt(pod) - startedAt(pod);
      const logs = await p.kubectl(['logs', '-n', NAMESPACE, pod.metadata.name]);
      const connected = logs.split('\n').map((l) => { try { return JSON.parse(l) as { msg?: string; time?: number }; } catch { return {}; } }).find((l) => l.msg === 'connected to the operator');
      if (connected?.time) startToFleetReportMs[node] = connected.time - startedAt(pod);
    }
    opts.log(`registered; rolling out ${V2}…`);
    const before = new Set((await pods()).map((x) => x.metadata.name));
    const rolloutStart = Date.now();
    await p.kubectl(['apply', '-f', '-'], configYaml(p, V2));
    const steps = new Map(p.nodeNames.map((node) => [node, { node } as RolloutSteps]));
    const newPods = new Map<string, string>();
    const seen = (st: RolloutSteps, key: Exclude<keyof RolloutSteps, 'node'>) => {
      if (st[key] === undefined) st[key] = Date.now() - rolloutStart;
    };
    await waitFor('every host on the new version and every new pod ready', async () => {
      const live = await pods();
      for (const node of p.nodeNames) {
        const st = steps.get(node) as RolloutSteps;
        const old = live.find((x) => x.spec.nodeName === node && before.has(x.metadata.name));
        if (old?.metadata.deletionTimestamp) seen(st, 'oldDeleting');
        if (!old) seen(st, 'oldGone');
        const fresh = live.find((x) => x.spec.nodeName === node && !before.has(x.metadata.name));
        if (fresh) {
          seen(st, 'newCreated');
          newPods.set(node, fresh.metadata.name);
          if (fresh.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) seen(st, 'newReady');
        }
      }
      const versions = await Promise.all(p.nodeNames.map((x) => p.host.agentVersion(x)));
      versions.forEach((v, i) => v === V2 && seen(steps.get(p.nodeNames[i] ?? '') as RolloutSteps, 'hostChanged'));
      return [...steps.values()].every((st) => st.hostChanged !== undefined && st.newReady !== undefined);
    }, 900_000, 250);
    for (const [node, name] of newPods) {
      const logs = await p.kubectl(['logs', '-n', NAMESPACE, name]);
      const started = logs.split('\n').map((l) => { try { return JSON.parse(l) as { msg?: string; time?: number }; } catch { return {}; } }).find((l) => l.msg === 'node agent started');
      if (started?.time) (steps.get(node) as RolloutSteps).agentStarted = started.time - rolloutStart;
    }
    await p.kubectl(['rollout', 'status', `daemonset/ssm-node-agent-${CONFIG}`, '-n', NAMESPACE, '--timeout=300s']);
    const rolloutMs = Date.now() - rolloutStart;
    const nodeUpgradeMs: Record<string, number> = {};
    for (const pod of await pods()) if (!before.has(pod.metadata.name)) nodeUpgradeMs[pod.spec.nodeName ?? '?'] = readyAt(pod) - Date.parse(pod.metadata.creationTimestamp);
    const rolloutSteps = [...steps.values()].sort((a, b) => (a.newCreated ?? 0) - (b.newCreated ?? 0));
    return { nodes: n, appImageBytes: p.cluster.images.appImageBytes, importSeconds, applyToRegisteredMs, firstPassMs, startToFleetReportMs, rolloutMs, nodeUpgradeMs, rolloutSteps, wallMs: performance.now() - t0 };
  } finally {
    await stop();
  }
}

export function printClusterBench(r: ClusterBenchResult): void {
  const vals = (m: Record<string, number>) => Object.values(m);
  const max = (m: Record<string, number>) => Math.max(...vals(m));
  const median = (m: Record<string, number>) => vals(m).sort((a, b) => a - b)[Math.floor(vals(m).length / 2)] ?? NaN;
  const s = (x: number) => `${(x / 1000).toFixed(1)} s`;
  const each = (m: Record<string, number>, f: (x: number) => string) => Object.entries(m).map(([k, v]) => `${k} ${f(v)}`).join(', ');
  console.log(`\n6. The real cluster: ${r.nodes} kubelet nodes, the chart with helm, a Hybrid config with a managed activation`);
  console.log(`   app image archive ${(r.appImageBytes / 1024 / 1024).toFixed(0)} MiB; a 32 MiB stand-in package from a mirror on the fabric.\n`);
  const upgradeRef = Math.ceil(r.nodes / 1) * median(r.nodeUpgradeMs);
  console.log(`   | measure | figure | reference (same run) | ratio |`);
  console.log(`   |---|---|---|---|`);
  console.log(`   | image import into a node's containerd | ${each(r.importSeconds, (v) => `${v.toFixed(1)} s`)} | | |`);
  console.log(`   | kubectl apply → all ${r.nodes} nodes Registered | ${s(r.applyToRegisteredMs)} | slowest node's first pass ${s(max(r.firstPassMs))} | ${(r.applyToRegisteredMs / max(r.firstPassMs)).toFixed(2)}× |`);
  console.log(`   | node-agent container start → first fleet report | ${each(r.startToFleetReportMs, s)} | | |`);
  console.log(`   | rollout of a version, maxUnavailable 1 | ${s(r.rolloutMs)} | ⌈N/k⌉ × one node's upgrade (median ${s(median(r.nodeUpgradeMs))}) = ${s(upgradeRef)} | ${(r.rolloutMs / upgradeRef).toFixed(2)}× |`);
  // One node's replacement as the DaemonSet controller does it (maxSurge 0): the old pod's termination included.
  const replaceMs = Object.fromEntries(r.rolloutSteps.flatMap((st) => (st.oldDeleting !== undefined && st.newReady !== undefined ? [[st.node, st.newReady - st.oldDeleting]] : [])));
  const replaceRef = Math.ceil(r.nodes / 1) * median(replaceMs);
  console.log(`   | the same rollout | ${s(r.rolloutMs)} | ⌈N/k⌉ × one node's replacement (old pod deleted → new pod Ready, median ${s(median(replaceMs))}) = ${s(replaceRef)} | ${(r.rolloutMs / replaceRef).toFixed(2)}× |`);
  const sum = (f: (st: RolloutSteps) => number | undefined) => r.rolloutSteps.reduce((a, st) => a + (f(st) ?? 0), 0);
  const first = r.rolloutSteps[0]?.oldDeleting ?? NaN;
  const gaps = r.rolloutSteps.slice(1).reduce((a, st, i) => a + ((st.oldDeleting ?? 0) - (r.rolloutSteps[i]?.newReady ?? 0)), 0);
  console.log(`\n   outside the new pods' own time: apply → first old pod deleting ${s(first)}; old pods terminating (deleting → gone) ${s(sum((st) => (st.oldGone ?? 0) - (st.oldDeleting ?? 0)))} in all; gone → new pod ${s(sum((st) => (st.newCreated ?? 0) - (st.oldGone ?? 0)))}; a pod Ready → the next old pod deleting ${s(gaps)}`);
  const at = (x: number | undefined) => (x === undefined ? '?' : `+${(x / 1000).toFixed(1)}`);
  console.log(`\n   where the rollout's time goes (s after the apply): old pod deleting / gone → new pod created / node agent started → host changed → pod Ready`);
  for (const st of r.rolloutSteps) console.log(`   ${st.node}: ${at(st.oldDeleting)} / ${at(st.oldGone)} → ${at(st.newCreated)} / ${at(st.agentStarted)} → ${at(st.hostChanged)} → ${at(st.newReady)}`);
}
