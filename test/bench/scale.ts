// Benchmark 2: 2,000 Nodes in 20 pools and 20 configs (one per pool). How long the operator takes from start to
// status on every config, what that costs in CPU, and what it costs (memory, CPU, reconciles) once quiet.
// No kube-controller-manager: the machine's cores stay with the operator and the apiserver.
import { join } from 'node:path';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import type { KubeClient, KubeList } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { inClusterCredentials } from '../harness/in-cluster-credentials.ts';
import { NAMESPACE, startOperatorTestEnv } from '../harness/operator-env.ts';
import { warmCompileCache } from './bare-node.ts';
import type { Cleanup } from './cleanup.ts';
import { spawnOperator, sumReconciles, type OperatorProcess } from './operator-process.ts';
import { poll, sleep } from './poll.ts';
import { cpuByProcess, sampleProc, type ProcSample } from './proc-stats.ts';

export interface ScaleOptions {
  nodes: number;
  pools: number;
  quietWindowMs: number;
  concurrency: number;
  log: (line: string) => void;
}

export interface ScaleResult {
  kubernetesVersion: string;
  nodes: number;
  configs: number;
  /** creating the Nodes (POST + taint removal), ms; context only */
  createNodesMs: number;
  /** spawn → /readyz 200 (process start, informers listed), ms */
  readyMs: number;
  /** spawn → every config has status.observedGeneration == generation, ms */
  initialSyncMs: number;
  /** CPU seconds of the operator from spawn to /readyz (Node start-up, module loading, informer lists) */
  readyCpuSeconds: number;
  /** CPU seconds of the operator from spawn to the end of the initial sync */
  initialSyncCpuSeconds: number;
  /** reconciles run during the initial sync (by result) */
  initialSyncReconciles: Map<string, number>;
  /** spawn → the last reconcile of the start-up burst (the reconcile count then stays still for SETTLE_MS), ms */
  settledMs: number;
  settledCpuSeconds: number;
  settledReconciles: Map<string, number>;
  daemonSets: number;
  conflicted: number;
  atSync: ProcSample;
  quiet: {
    windowMs: number;
    rssAvgKb: number;
    rssMaxKb: number;
    hwmKb: number;
    /** V8 heap in use at the end of the window, bytes */
    heapUsedBytes: number;
    cpuPercent: number;
    reconciles: number;
    /** CPU% of each control-plane process over the same window */
    controlPlaneCpuPercent: Map<string, number>;
  };
  wallMs: number;
}

const configsPath = resourcePath(RESOURCES.ssmAgentConfig);
/** The start-up burst is over when no reconcile has run for this long. */
export const SETTLE_MS = 3_000;

/** Runs `task` over 0..count-1 with at most `concurrency` in flight. */
async function parallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

async function createNodes(client: KubeClient, opts: ScaleOptions): Promise<void> {
  const name = (i: number) => `scale-node-${String(i).padStart(4, '0')}`;
  await parallel(opts.nodes, opts.concurrency, async (i) => {
    await client.request('POST', resourcePath(RESOURCES.node), {
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: name(i),
          labels: { pool: `p${i % opts.pools}`, 'kubernetes.io/hostname': name(i), 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
        },
      },
    });
  });
  // Admission (TaintNodesByCondition) gives every new Node the not-ready:NoSchedule taint, which no DaemonSet
  // tolerates; without the node lifecycle controller nothing removes it, and the operator would rightly cover no
  // node at all. Remove it, as a kubelet reporting Ready would cause, so node selection does its full work.
  await parallel(opts.nodes, opts.concurrency, async (i) => {
    await client.request('PATCH', resourcePath(RESOURCES.node, { name: name(i) }), {
      contentType: 'application/merge-patch+json',
      body: { spec: { taints: null } },
    });
  });
}

async function createConfigs(client: KubeClient, pools: number): Promise<void> {
  for (let p = 0; p < pools; p++) {
    await client.request('POST', configsPath, {
      body: {
        apiVersion: 'ssmagent.io/v1alpha1',
        kind: 'SsmAgentConfig',
        metadata: { name: `pool-p${p}` },
        spec: { region: 'us-east-1', nodeSelector: { pool: `p${p}` }, agent: { version: '3.3.1142.0' } },
      },
    });
  }
}

export async function runScaleBench(opts: ScaleOptions, cleanup: Cleanup): Promise<ScaleResult> {
  const start = performance.now();
  opts.log('starting a control plane (etcd, kube-apiserver; no kube-controller-manager)…');
  const env = await startOperatorTestEnv({ controllerManager: false });
  const stopEnv = cleanup.defer('stop control plane (scale)', () => env.stop());
  let operator: OperatorProcess | undefined;
  let stopOperator: (() => Promise<void>) | undefined;
  try {
    const { client } = env;
    const version = await client.get<{ gitVersion?: string }>('/version');
    opts.log(`creating ${opts.nodes} Nodes in ${opts.pools} pools…`);
    const t0 = performance.now();
    await createNodes(client, opts);
    const createNodesMs = performance.now() - t0;
    await createConfigs(client, opts.pools);

    opts.log('starting the operator; timing the initial sync…');
    // As a pod runs it: in-cluster credentials (no @kubernetes/client-node) and the image's warm compile cache.
    const podDir = join(env.cp.dir, 'operator-pod');
    warmCompileCache(join(podDir, 'compile-cache'), [process.getuid?.() ?? 0]);
    const creds = await inClusterCredentials({ admin: client, server: env.cp.server, caCertPath: env.cp.caCertPath, namespace: NAMESPACE, serviceAccount: 'ssm-agent-operator', dir: join(podDir, 'serviceaccount'), home: podDir });
    operator = await spawnOperator(env.cp.kubeconfigPath, env.cp.logDir, { ...creds.env, NODE_COMPILE_CACHE: join(podDir, 'compile-cache') });
    const op = operator;
    stopOperator = cleanup.defer('stop operator (scale)', () => op.stop());
    let readyMs = Number.NaN;
    let readyCpuSeconds = Number.NaN;
    void op.waitReady(300_000).then(
      () => {
        readyMs = performance.now() - op.spawnedAt;
        readyCpuSeconds = sampleProc(op.pid).cpuSeconds;
      },
      () => undefined,
    );
    const synced = await poll(
      `status.observedGeneration on all ${opts.pools} configs`,
      async () => {
        if (op.proc.exitStatus()) throw new Error(`the operator exited; log tail:\n${op.logTail()}`);
        const list = await client.get<KubeList<SsmAgentConfig>>(configsPath);
        const done = list.items.filter((c) => c.status?.observedGeneration !== undefined && c.status.observedGeneration === c.metadata.generation);
        return done.length === opts.pools ? list.items : undefined;
      },
      300_000,
      50,
    );
    const atSync = sampleProc(op.pid);
    const initialSyncMs = atSync.at - op.spawnedAt;
    const initialSyncReconciles = await op.reconciles();
    const daemonSets = (await client.get<KubeList<unknown>>(resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE }))).items.length;
    const conflicted = synced.filter((c) => c.status?.conditions?.some((x) => x.type === 'Conflicted' && x.status === 'True')).length;
    await poll('the operator /readyz', () => (Number.isNaN(readyMs) ? undefined : true), 60_000, 50);

    // Status on every config is not the end of start-up: the queue may still hold keys (each object the first
    // pass creates comes back as an informer 'add'). The quiet window starts once reconciles have stopped.
    let last = -1;
    let lastChangeAt = performance.now();
    let settledCpuSeconds = Number.NaN;
    let settledReconciles = new Map<string, number>();
    await poll(
      'the operator to stop reconciling',
      async () => {
        const byResult = await op.reconciles();
        const n = sumReconciles(byResult);
        if (n !== last) {
          last = n;
          lastChangeAt = performance.now();
          settledCpuSeconds = sampleProc(op.pid).cpuSeconds;
          settledReconciles = byResult;
        }
        return performance.now() - lastChangeAt >= SETTLE_MS ? true : undefined;
      },
      180_000,
      100,
    );
    const settledMs = lastChangeAt - op.spawnedAt;

    opts.log(`quiet window: ${opts.quietWindowMs / 1000} s…`);
    const cpPids = env.cp.pids();
    const q0 = sampleProc(op.pid);
    const cp0 = cpuByProcess(cpPids);
    const r0 = sumReconciles(await op.reconciles());
    const rss: number[] = [];
    const end = performance.now() + opts.quietWindowMs;
    while (performance.now() < end) {
      if (op.proc.exitStatus()) throw new Error(`the operator exited during the quiet window; log tail:\n${op.logTail()}`);
      rss.push(sampleProc(op.pid).rssKb);
      await sleep(Math.min(1_000, Math.max(0, end - performance.now())));
    }
    const q1 = sampleProc(op.pid);
    const heapUsedBytes = await op.heapUsedBytes();
    const cp1 = cpuByProcess(cpPids);
    const r1 = sumReconciles(await op.reconciles());
    const windowMs = q1.at - q0.at;
    const controlPlaneCpuPercent = new Map<string, number>();
    for (const [name, cpu] of cp1) controlPlaneCpuPercent.set(name, ((cpu - (cp0.get(name) ?? cpu)) / (windowMs / 1000)) * 100);

    return {
      kubernetesVersion: version.gitVersion ?? 'unknown',
      nodes: opts.nodes,
      configs: opts.pools,
      createNodesMs,
      readyMs,
      readyCpuSeconds,
      initialSyncMs,
      initialSyncCpuSeconds: atSync.cpuSeconds,
      initialSyncReconciles,
      settledMs,
      settledCpuSeconds,
      settledReconciles,
      daemonSets,
      conflicted,
      atSync,
      quiet: {
        windowMs,
        rssAvgKb: rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length),
        rssMaxKb: Math.max(...rss, q1.rssKb),
        hwmKb: q1.hwmKb,
        heapUsedBytes,
        cpuPercent: ((q1.cpuSeconds - q0.cpuSeconds) / (windowMs / 1000)) * 100,
        reconciles: r1 - r0,
        controlPlaneCpuPercent,
      },
      wallMs: performance.now() - start,
    };
  } catch (err) {
    if (operator) opts.log(`operator log tail:\n${operator.logTail()}`);
    throw err;
  } finally {
    await stopOperator?.();
    await stopEnv();
  }
}
