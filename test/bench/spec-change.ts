// Benchmark 1: how long after a spec change (a merge PATCH of the SsmAgentConfig returns) the DaemonSet carries
// it (a watch sees the pod template's revision of the new rendering), beside a bare apiserver GET.
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { parseSpec } from '../../operator/api/validate.ts';
import type { KubeClient, KubeList, KubeObject, WatchEvent } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { buildDesiredObjects } from '../../operator/manifests/desired-objects.ts';
import { ANNOTATION_REVISION, nodeAgentName } from '../../operator/manifests/names.ts';
import { NAMESPACE, startOperatorTestEnv } from '../harness/operator-env.ts';
import type { Cleanup } from './cleanup.ts';
import { NODE_AGENT_IMAGE, spawnOperator, sumReconciles, type OperatorProcess } from './operator-process.ts';
import { poll, sleep } from './poll.ts';
import { sampleProc, type ProcSample } from './proc-stats.ts';
import { summarize, type Summary } from './stats.ts';

export interface SpecChangeOptions {
  changes: number;
  nodes: number;
  bareGets: number;
  log: (line: string) => void;
}

export interface SpecChangeResult {
  kubernetesVersion: string;
  changes: number;
  nodes: number;
  /** PATCH returned → watch saw the DaemonSet with the new hash, ms */
  toDaemonSet: Summary;
  /** the PATCH round trip itself, ms */
  patchRoundTrip: Summary;
  /** GET of the SsmAgentConfig, ms */
  bareGet: Summary;
  /** changes whose DaemonSet update arrived before the PATCH response (counted as 0 ms) */
  earlyArrivals: number;
  /** reconciles the operator ran during the changes, and how many failed */
  reconciles: number;
  reconcileErrors: number;
  operatorBefore: ProcSample;
  heapUsedBefore: number;
  operatorAfter: ProcSample;
  /** V8 heap in use after the changes, bytes */
  heapUsedAfter: number;
  wallMs: number;
}

type DaemonSet = KubeObject & { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } };

const CONFIG = 'bench';
const DS_NAME = nodeAgentName(CONFIG);
const configPath = resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG });
const dsCollection = resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE });
const hashOf = (ds: DaemonSet): string | undefined => ds.spec?.template?.metadata?.annotations?.[ANNOTATION_REVISION];

/** The config hash the operator renders for this stored config (same pure builders, same context). */
function expectedHash(config: SsmAgentConfig): string {
  const parsed = parseSpec(config.spec);
  if (!parsed.ok) throw new Error(`the stored config does not parse: ${parsed.errors.join('; ')}`);
  const objects = buildDesiredObjects({ config: { ...config, spec: parsed.spec }, context: { namespace: NAMESPACE, nodeAgentImage: NODE_AGENT_IMAGE } });
  const ds = objects.find((o) => o.kind === 'DaemonSet') as DaemonSet | undefined;
  const hash = ds ? hashOf(ds) : undefined;
  if (!hash) throw new Error('the builders rendered no DaemonSet config hash');
  return hash;
}

/** Watches one DaemonSet and remembers when each config hash was first seen. */
class HashWatcher {
  private readonly client: KubeClient;
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Set<{ hash: string; resolve: (at: number) => void }>();
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  private failures = 0;

  constructor(client: KubeClient) {
    this.client = client;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  watchFailures(): number {
    return this.failures;
  }

  /** When the hash was first seen (performance.now()), waiting up to timeoutMs for it. */
  waitFor(hash: string, timeoutMs: number): Promise<number> {
    const at = this.seen.get(hash);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      const waiter = {
        hash,
        resolve: (t: number) => {
          clearTimeout(timer);
          resolve(t);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`the DaemonSet did not show config hash ${hash} within ${timeoutMs} ms (seen: ${[...this.seen.keys()].join(', ')})`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private record(ds: DaemonSet): void {
    const now = performance.now();
    const hash = hashOf(ds);
    if (!hash || ds.metadata?.name !== DS_NAME || this.seen.has(hash)) return;
    this.seen.set(hash, now);
    for (const w of this.waiters) {
      if (w.hash === hash) {
        this.waiters.delete(w);
        w.resolve(now);
      }
    }
  }

  private async run(): Promise<void> {
    const fieldSelector = `metadata.name=${DS_NAME}`;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        const list = await this.client.get<KubeList<DaemonSet>>(dsCollection, { query: { fieldSelector }, signal });
        for (const ds of list.items) this.record(ds);
        let rv: string | undefined = list.metadata?.resourceVersion;
        while (rv !== undefined && !signal.aborted) {
          let next: string | undefined = rv;
          await this.client.watch<DaemonSet>(
            dsCollection,
            { resourceVersion: rv, fieldSelector, allowWatchBookmarks: true, timeoutSeconds: 240 },
            (event: WatchEvent<DaemonSet>) => {
              if (event.type === 'ERROR') {
                next = undefined; // 410 Gone or another error: relist
                return;
              }
              if (event.type === 'ADDED' || event.type === 'MODIFIED') this.record(event.object);
              next = event.object.metadata?.resourceVersion ?? next;
            },
            signal,
            270_000,
          );
          rv = next;
        }
      } catch {
        if (signal.aborted) return;
        this.failures++;
        await sleep(200);
      }
    }
  }
}

async function timeIt<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** Waits until the operator has written status for the current generation and its reconcile count is still. */
async function waitQuiet(client: KubeClient, operator: OperatorProcess, generation: number): Promise<void> {
  await poll(
    'status.observedGeneration to catch up',
    async () => ((await client.get<SsmAgentConfig>(configPath)).status?.observedGeneration === generation ? true : undefined),
    15_000,
    20,
  );
  let last = -1;
  let still = 0;
  await poll(
    'the operator to go quiet',
    async () => {
      const n = sumReconciles(await operator.reconciles());
      still = n === last ? still + 1 : 0;
      last = n;
      return still >= 3 ? true : undefined;
    },
    10_000,
    100,
  );
}

export async function runSpecChangeBench(opts: SpecChangeOptions, cleanup: Cleanup): Promise<SpecChangeResult> {
  const start = performance.now();
  opts.log('starting a control plane (etcd, kube-apiserver, kube-controller-manager)…');
  const env = await startOperatorTestEnv({ controllerManager: true });
  const stopEnv = cleanup.defer('stop control plane (spec-change)', () => env.stop());
  let operator: OperatorProcess | undefined;
  let stopOperator: (() => Promise<void>) | undefined;
  let stopWatcher: (() => Promise<void>) | undefined;
  try {
    const { client } = env;
    const version = await client.get<{ gitVersion?: string }>('/version');
    for (let i = 0; i < opts.nodes; i++) await env.createNode(`bench-node-${i}`, { pool: 'bench' });

    await client.request('POST', resourcePath(RESOURCES.ssmAgentConfig), {
      body: {
        apiVersion: 'ssmagent.io/v1alpha1',
        kind: 'SsmAgentConfig',
        metadata: { name: CONFIG },
        spec: { region: 'us-east-1', nodeSelector: { pool: 'bench' }, agent: { version: '3.3.1.0' } },
      },
    });

    opts.log('starting the operator…');
    operator = await spawnOperator(env.cp.kubeconfigPath, env.cp.logDir);
    const op = operator;
    stopOperator = cleanup.defer('stop operator (spec-change)', () => op.stop());
    await op.waitReady(60_000);

    const watcher = new HashWatcher(client);
    watcher.start();
    stopWatcher = cleanup.defer('stop DaemonSet watch', () => watcher.stop());
    const initial = await client.get<SsmAgentConfig>(configPath);
    // Proves the expected-hash computation matches the operator's before anything is timed.
    await watcher.waitFor(expectedHash(initial), 60_000);
    await waitQuiet(client, op, initial.metadata.generation ?? 1);

    opts.log(`timing ${opts.changes} spec changes…`);
    const reconcilesBefore = await op.reconciles();
    const operatorBefore = sampleProc(op.pid);
    const heapUsedBefore = await op.heapUsedBytes();
    const toDaemonSet: number[] = [];
    const patchRoundTrip: number[] = [];
    let earlyArrivals = 0;
    let previousHash = expectedHash(initial);
    for (let i = 1; i <= opts.changes; i++) {
      const version = `3.3.1.${i}`;
      const { ms: patchMs, value: patched } = await timeIt(() =>
        client.request<SsmAgentConfig>('PATCH', configPath, { contentType: 'application/merge-patch+json', body: { spec: { agent: { version } } } }),
      );
      const returnedAt = performance.now();
      patchRoundTrip.push(patchMs);
      const hash = expectedHash(patched);
      if (hash === previousHash) throw new Error(`changing agent.version to ${version} did not change the rendered config hash`);
      previousHash = hash;
      const seenAt = await watcher.waitFor(hash, 30_000);
      if (seenAt < returnedAt) earlyArrivals++;
      toDaemonSet.push(Math.max(0, seenAt - returnedAt));
      await waitQuiet(client, op, patched.metadata.generation ?? 0);
    }
    const reconcilesAfter = await op.reconciles();
    const operatorAfter = sampleProc(op.pid);
    const heapUsedAfter = await op.heapUsedBytes();

    opts.log(`timing ${opts.bareGets} bare GETs…`);
    for (let i = 0; i < 5; i++) await client.get(configPath); // warm the connection
    const bareGet: number[] = [];
    for (let i = 0; i < opts.bareGets; i++) bareGet.push((await timeIt(() => client.get(configPath))).ms);

    const errors = (reconcilesAfter.get('error') ?? 0) - (reconcilesBefore.get('error') ?? 0);
    return {
      kubernetesVersion: version.gitVersion ?? 'unknown',
      changes: opts.changes,
      nodes: opts.nodes,
      toDaemonSet: summarize(toDaemonSet),
      patchRoundTrip: summarize(patchRoundTrip),
      bareGet: summarize(bareGet),
      earlyArrivals,
      reconciles: sumReconciles(reconcilesAfter) - sumReconciles(reconcilesBefore),
      reconcileErrors: errors,
      operatorBefore,
      heapUsedBefore,
      operatorAfter,
      heapUsedAfter,
      wallMs: performance.now() - start,
    };
  } catch (err) {
    if (operator) opts.log(`operator log tail:\n${operator.logTail()}`);
    throw err;
  } finally {
    await stopWatcher?.();
    await stopOperator?.();
    await stopEnv();
  }
}
