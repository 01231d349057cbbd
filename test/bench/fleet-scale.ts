// Benchmark 5: the fleet channel at scale. For each fleet size N: a control plane without kube-controller-manager,
// N bare Nodes (pool=fleet, not-ready taint removed), one SsmAgentConfig selecting them, the operator as a child
// process (so /proc gives its RSS and CPU), then N simulated node agents — FleetClient instances in this process,
// each with its own Pod bound to its Node and a TokenRequest token for the config's ServiceAccount.
//
// Measured per N: the ramp-up (time and operator CPU to accept all N, TokenReviews included), the time until the
// status counts all N, RSS and CPU% while the N agents are connected and quiet, the latency of one agent's state
// change to status.agentVersions, and API-server writes per minute (apiserver_request_total, write verbs, by
// resource) in a quiet window and in a window with a few state changes.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { FLEET_PATH, type NodeState } from '../../operator/api/fleet-protocol.ts';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { FLEET_CA_CONFIGMAP, nodeAgentName } from '../../operator/manifests/names.ts';
import { FleetClient } from '../../node-agent/fleet/client.ts';
import { freePort } from '../harness/control-plane.ts';
import { startOperatorProcess, sumReconciles } from '../harness/operator-process.ts';
import { createBoundPod, requestToken } from '../harness/node-agent-identity.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import type { Cleanup } from './cleanup.ts';
import { NODE_AGENT_IMAGE } from './operator-process.ts';
import { poll, sleep } from './poll.ts';
import { cpuByProcess, sampleProc } from './proc-stats.ts';

export interface FleetScaleOptions {
  agents: number;
  /** length of the quiet window and of the state-change window */
  windowMs: number;
  /** state changes in the change window */
  windowChanges: number;
  /** latency samples (median reported) */
  latencyChanges: number;
  concurrency: number;
  /** extra environment of the operator process (e.g. NODE_OPTIONS for a CPU profile or heap snapshots) */
  operatorEnv?: Record<string, string>;
  /** where the operator writes heap snapshots: one is taken with N connected after the storm */
  heapSnapshotDir?: string;
  log: (line: string) => void;
}

/** The operator restarted under N connected agents: how long until all are back, and what it cost. */
export interface StormFigures {
  /** SIGTERM to the old operator → every agent connected (welcomed) to the new one */
  allBackMs: number;
  /** the old operator's SIGTERM → it exited (it closes every connection with 1001 first) */
  stopMs: number;
  /** the new operator's spawn → its first agent welcomed (caches listed, fleet port open) */
  readyMs: number;
  /** the agents' reconnect window: they spread their returns over it by design */
  reconnectWindowMs: number;
  /** operator CPU, spawn → all back, and per connection after /readyz */
  cpuSeconds: number;
  cpuAfterReadySeconds: number;
  reviewsPeakInFlight: number;
  reviews: number;
  rejectedByReason: Map<string, number>;
  attempts: number;
  rssKb: number;
  hwmKb: number;
  heapUsedBytes: number;
}

/** Write requests by "resource[/subresource]" over a window. */
export type Writes = Map<string, number>;

export interface WindowFigures {
  ms: number;
  cpuPercent: number;
  rssAvgKb: number;
  rssMaxKb: number;
  writes: Writes;
  controlPlaneCpuPercent: Map<string, number>;
  /** state changes the bench sent in the window */
  changes: number;
  /** operator reconciles in the window */
  reconciles: number;
  /** status.agentVersions at the end of the window (a check that the changes arrived) */
  agentVersionsAtEnd: string;
}

export interface FleetScaleResult {
  kubernetesVersion: string;
  agents: number;
  setupMs: { nodes: number; pods: number; tokens: number };
  operatorReadyMs: number;
  rssBeforeAgentsKb: number;
  connectAllMs: number;
  connectCpuSeconds: number;
  connectAttempts: number;
  connectRejections: number;
  statusAllMs: number;
  statusAllCpuSeconds: number;
  rssAfterConnectKb: number;
  hwmAfterConnectKb: number;
  quiet: WindowFigures;
  heapUsedBytes: number;
  latencyMs: number[];
  changeWindow: WindowFigures;
  operatorWarnings: number;
  operatorWarningSamples: string[];
  benchRssKb: number;
  storm: StormFigures;
  wallMs: number;
}

const RECONNECT_WINDOW_MS = 20_000;

/** A value of the operator's /metrics, summed over label sets matching `filter`. */
function metricSum(text: string, name: string, filter = ''): number {
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(filter))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

const CONFIG = 'fleet-bench';
const SA = nodeAgentName(CONFIG);
// Server-side apply (the operator's status writes) is counted under verb APPLY, not PATCH.
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE']);
const silent = pino({ level: 'silent' });
const configPath = resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG });
const nodeName = (i: number) => `fleet-node-${String(i).padStart(5, '0')}`;
const podName = (i: number) => `agent-${nodeName(i)}`;
const instanceId = (i: number) => `mi-${i.toString(16).padStart(17, '0')}`;

const healthy = (version: string, i: number): NodeState => ({
  steps: [
    { step: 'install', status: 'ok' },
    { step: 'register', status: 'ok' },
  ],
  observation: { serviceActive: true, version, instanceId: instanceId(i), region: 'us-east-1' },
});

/** Runs `task` over 0..count-1 with at most `concurrency` in flight. */
async function parallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** apiserver_request_total of the write verbs, by resource[/subresource], from the apiserver's /metrics. */
async function apiserverWrites(env: OperatorTestEnv): Promise<Writes> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.get(`${env.cp.server}/metrics`, { ca: env.cp.caPem, headers: { Authorization: `Bearer ${env.cp.adminToken}` }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`apiserver /metrics: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('apiserver /metrics timed out')));
    req.on('error', reject);
  });
  const out: Writes = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1] ?? '';
    if (!WRITE_VERBS.has(label('verb'))) continue;
    const sub = label('subresource');
    const key = `${label('verb')} ${label('resource')}${sub ? `/${sub}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.split(' ').pop()));
  }
  return out;
}

function diffWrites(before: Writes, after: Writes): Writes {
  const out: Writes = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

export const sumWrites = (w: Writes): number => [...w.values()].reduce((a, b) => a + b, 0);

export async function runFleetScaleBench(opts: FleetScaleOptions, cleanup: Cleanup): Promise<FleetScaleResult> {
  const start = performance.now();
  const n = opts.agents;
  const work = mkdtempSync(join(tmpdir(), 'ssm-fleet-bench-'));
  const removeWork = cleanup.defer('remove fleet bench temp dir', async () => rmSync(work, { recursive: true, force: true }));
  opts.log(`[fleet ${n}] starting a control plane (etcd, kube-apiserver; no kube-controller-manager)…`);
  const env = await startOperatorTestEnv({ controllerManager: false });
  const stopEnv = cleanup.defer(`stop control plane (fleet ${n})`, () => env.stop());
  const clients: FleetClient[] = [];
  let stopOperator: (() => Promise<void>) | undefined;
  let stopClients: (() => Promise<void>) | undefined;
  try {
    const { client } = env;
    const version = await client.get<{ gitVersion?: string }>('/version');

    opts.log(`[fleet ${n}] creating ${n} Nodes…`);
    let t = performance.now();
    await parallel(n, opts.concurrency, async (i) => {
      await client.request('POST', resourcePath(RESOURCES.node), {
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: nodeName(i), labels: { pool: 'fleet', 'kubernetes.io/hostname': nodeName(i), 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' } },
        },
      });
      // TaintNodesByCondition added node.kubernetes.io/not-ready:NoSchedule; no node lifecycle controller removes it.
      await client.request('PATCH', resourcePath(RESOURCES.node, { name: nodeName(i) }), { contentType: 'application/merge-patch+json', body: { spec: { taints: null } } });
    });
    const nodesMs = performance.now() - t;

    const fleetPort = await freePort();
    const spawnOperator = (name: string) =>
      startOperatorProcess({
        name,
        kubeconfigPath: env.cp.kubeconfigPath,
        logPath: join(env.cp.logDir, `${name}.log`),
        nodeAgentImage: NODE_AGENT_IMAGE,
        env: { LOG_LEVEL: 'warn', FLEET_PORT: String(fleetPort), FLEET_ADVERTISE_ADDRESS: '127.0.0.1', LEADER_ELECTION: 'false', ...opts.operatorEnv },
        waitReady: false,
      });
    let operator = await spawnOperator('operator');
    stopOperator = cleanup.defer(`stop operator (fleet ${n})`, () => operator.stop());
    await operator.waitReady(120_000);
    const operatorReadyMs = performance.now() - operator.spawnedAt;
    const alive = () => {
      operator.assertRunning();
    };
    await client.request('POST', resourcePath(RESOURCES.ssmAgentConfig), {
      body: { apiVersion: 'ssmagent.io/v1alpha1', kind: 'SsmAgentConfig', metadata: { name: CONFIG }, spec: { region: 'us-east-1', nodeSelector: { pool: 'fleet' }, agent: { version: '3.3.1.0' } } },
    });
    await poll('the node agents’ ServiceAccount', () => (alive(), env.getOrUndefined(resourcePath(RESOURCES.serviceAccount, { namespace: NAMESPACE, name: SA }))), 60_000, 100);
    const ca = await poll(
      'the fleet CA ConfigMap',
      () => (alive(), env.getOrUndefined<{ data?: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP }))),
      60_000,
      100,
    );
    const caFile = join(work, 'ca.crt');
    writeFileSync(caFile, ca.data?.[FLEET_CA_KEY] ?? '');

    opts.log(`[fleet ${n}] creating ${n} bound Pods and ${n} TokenRequests…`);
    t = performance.now();
    const uids: string[] = new Array<string>(n);
    await parallel(n, opts.concurrency, async (i) => {
      uids[i] = await createBoundPod(client, NAMESPACE, podName(i), nodeName(i), SA);
    });
    const podsMs = performance.now() - t;
    t = performance.now();
    await parallel(n, opts.concurrency, async (i) => {
      const token = await requestToken(client, NAMESPACE, SA, { name: podName(i), uid: uids[i] ?? '' });
      writeFileSync(join(work, `${i}.token`), token);
    });
    const tokensMs = performance.now() - t;

    // Settle the operator (it reconciled the config once, plus the informer echoes) before the ramp-up.
    await sleep(3_000);
    const before = sampleProc(operator.pid);
    opts.log(`[fleet ${n}] connecting ${n} agents (${opts.concurrency} connecting at a time)…`);
    let rejections = 0;
    const connectStart = performance.now();
    stopClients = cleanup.defer(`stop ${n} fleet clients`, async () => {
      await Promise.all(clients.map((c) => c.stop()));
    });
    await parallel(n, opts.concurrency, async (i) => {
      let resolveConnected: () => void = () => undefined;
      const connected = new Promise<void>((resolve) => (resolveConnected = resolve));
      const c = new FleetClient({
        url: `wss://127.0.0.1:${fleetPort}${FLEET_PATH}`,
        tokenFile: join(work, `${i}.token`),
        caFile,
        nodeName: nodeName(i),
        configName: CONFIG,
        nodeAgentVersion: 'bench',
        log: silent,
        // What a node agent uses, but for a shorter bound on the ramp-up's retries (503 while 256 are in review).
        backoff: { initialMs: 500, maxMs: RECONNECT_WINDOW_MS, reconnectWindowMs: RECONNECT_WINDOW_MS },
        connectTimeoutMs: 30_000,
        initialState: healthy('3.3.1.0', i),
        onEvent: (e) => {
          if (e.type === 'connected') resolveConnected();
          else if (e.type === 'rejected') rejections++;
        },
      });
      clients.push(c);
      c.start();
      await Promise.race([connected, sleep(120_000).then(() => Promise.reject(new Error(`agent ${i} did not connect within 120 s`)))]);
    });
    const connectAllMs = performance.now() - connectStart;
    const atConnect = sampleProc(operator.pid);
    const connectAttempts = clients.reduce((a, c) => a + c.attempts, 0);
    opts.log(`[fleet ${n}] all ${n} connected in ${(connectAllMs / 1000).toFixed(1)} s; waiting for the status to count them…`);
    await poll(
      `status.nodes.registered == ${n}`,
      async () => {
        alive();
        const c = await client.get<SsmAgentConfig>(configPath);
        return c.status?.nodes?.registered === n ? true : undefined;
      },
      300_000,
      50,
    );
    const statusAllMs = performance.now() - connectStart;
    const atStatus = sampleProc(operator.pid);
    // Let the Node PATCHes of the ramp-up drain before the windows.
    await sleep(5_000);

    const cpPids = env.cp.pids();
    const runWindow = async (label: string, changes: (index: number) => Promise<void>, count: number): Promise<WindowFigures> => {
      opts.log(`[fleet ${n}] ${label} window: ${opts.windowMs / 1000} s${count > 0 ? `, ${count} state changes` : ''}…`);
      const w0 = await apiserverWrites(env);
      const r0 = sumReconciles(await operator.reconciles());
      const p0 = sampleProc(operator.pid);
      const cp0 = cpuByProcess(cpPids);
      const rss: number[] = [];
      const end = p0.at + opts.windowMs;
      const changeEvery = count > 0 ? opts.windowMs / count : Infinity;
      let done = 0;
      while (performance.now() < end) {
        alive();
        rss.push(sampleProc(operator.pid).rssKb);
        if (done < count && performance.now() - p0.at >= (done + 0.5) * changeEvery) await changes(done++);
        await sleep(Math.min(1_000, Math.max(0, end - performance.now())));
      }
      const p1 = sampleProc(operator.pid);
      const cp1 = cpuByProcess(cpPids);
      const w1 = await apiserverWrites(env);
      const r1 = sumReconciles(await operator.reconciles());
      const ms = p1.at - p0.at;
      const cr = await client.get<SsmAgentConfig>(configPath);
      const controlPlaneCpuPercent = new Map<string, number>();
      for (const [name, cpu] of cp1) controlPlaneCpuPercent.set(name, ((cpu - (cp0.get(name) ?? cpu)) / (ms / 1000)) * 100);
      return {
        ms,
        cpuPercent: ((p1.cpuSeconds - p0.cpuSeconds) / (ms / 1000)) * 100,
        rssAvgKb: rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length),
        rssMaxKb: Math.max(...rss, p1.rssKb),
        writes: diffWrites(w0, w1),
        controlPlaneCpuPercent,
        changes: done,
        reconciles: r1 - r0,
        agentVersionsAtEnd: (cr.status?.agentVersions ?? []).map((x) => `${x.version}×${x.count}`).join(' '),
      };
    };
    const quiet = await runWindow('quiet', async () => undefined, 0);
    const heapLine = (await operator.metrics()).split('\n').find((l) => l.startsWith('nodejs_heap_size_used_bytes'));
    const heapUsedBytes = heapLine ? Number(heapLine.split(' ').pop()) : Number.NaN;

    // Latency: one agent's observation.version → status.agentVersions, polled every 20 ms.
    opts.log(`[fleet ${n}] latency: ${opts.latencyChanges} version changes of one agent…`);
    const latencyMs: number[] = [];
    const probe = clients[0];
    if (!probe) throw new Error('no agents');
    for (let k = 1; k <= opts.latencyChanges; k++) {
      const v = `3.3.2.${k}`;
      const t0 = performance.now();
      probe.update(healthy(v, 0));
      await poll(
        `agentVersions to show ${v}`,
        async () => {
          alive();
          const c = await client.get<SsmAgentConfig>(configPath);
          return c.status?.agentVersions?.some((x) => x.version === v && x.count === 1) ? true : undefined;
        },
        60_000,
        20,
      );
      latencyMs.push(performance.now() - t0);
      await sleep(500);
    }
    probe.update(healthy('3.3.1.0', 0));
    await sleep(3_000);

    // Writes while agents heartbeat and a few of them change state (each a different agent, new version).
    const changeWindow = await runWindow(
      'state-change',
      async (k) => {
        const i = Math.floor(((k + 1) * n) / (opts.windowChanges + 1)) % n;
        clients[i]?.update(healthy(`3.3.3.${k}`, i));
      },
      opts.windowChanges,
    );

    // The storm: the operator restarts under N connected agents; they come back over their reconnect window.
    opts.log(`[fleet ${n}] storm: restarting the operator under ${n} connected agents…`);
    const attemptsBefore = clients.reduce((a, c) => a + c.attempts, 0);
    const stormStart = performance.now();
    await operator.stop();
    const stopMs = performance.now() - stormStart;
    operator = await spawnOperator('operator-restarted');
    const spawnedAt = operator.spawnedAt;
    // Not /readyz: under the storm its answer can take longer than any sane probe timeout. The fleet port opens once
    // the caches are synced, so the first agent back marks the same moment.
    await poll('the first agent back', () => (alive(), clients.some((c) => c.connected) ? true : undefined), 180_000, 20);
    const stormReadyMs = performance.now() - spawnedAt;
    const atReady = sampleProc(operator.pid);
    await poll(
      `all ${n} agents back`,
      () => (alive(), clients.every((c) => c.connected) ? true : undefined),
      180_000,
      50,
    );
    const allBackMs = performance.now() - stormStart;
    const atBack = sampleProc(operator.pid);
    const stormMetrics = await operator.metrics();
    const rejectedByReason = new Map<string, number>();
    for (const line of stormMetrics.split('\n')) {
      const m = /^ssm_operator_fleet_rejected_total\{reason="([^"]+)"\} (\S+)/.exec(line);
      if (m?.[1]) rejectedByReason.set(m[1], Number(m[2]));
    }
    const storm: StormFigures = {
      allBackMs,
      stopMs,
      readyMs: stormReadyMs,
      reconnectWindowMs: RECONNECT_WINDOW_MS,
      cpuSeconds: atBack.cpuSeconds,
      cpuAfterReadySeconds: atBack.cpuSeconds - atReady.cpuSeconds,
      reviewsPeakInFlight: metricSum(stormMetrics, 'ssm_operator_fleet_token_reviews_in_flight_peak'),
      reviews: metricSum(stormMetrics, 'ssm_operator_fleet_token_reviews_total'),
      rejectedByReason,
      attempts: clients.reduce((a, c) => a + c.attempts, 0) - attemptsBefore,
      rssKb: atBack.rssKb,
      hwmKb: atBack.hwmKb,
      heapUsedBytes: metricSum(stormMetrics, 'ssm_operator_process_nodejs_heap_size_used_bytes'),
    };
    if (opts.heapSnapshotDir) {
      // The operator runs with --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir> (BENCH_OPERATOR_NODE_OPTIONS).
      const count = () => readdirSync(opts.heapSnapshotDir ?? '.').filter((f) => f.endsWith('.heapsnapshot')).length;
      const had = count();
      process.kill(operator.pid, 'SIGUSR2');
      await poll('the heap snapshot', () => (count() > had ? true : undefined), 120_000, 500);
      await sleep(5_000);
    }
    opts.log(`[fleet ${n}] storm: all ${n} back in ${(allBackMs / 1000).toFixed(1)} s, peak ${storm.reviewsPeakInFlight} TokenReviews in flight`);

    let logText = '';
    try {
      logText = readFileSync(operator.logPath, 'utf8');
    } catch {
      // no log
    }
    const warnLines = logText.split('\n').filter((l) => /"level":(40|50|60)/.test(l));
    const samples = new Map<string, number>();
    for (const l of warnLines) {
      const msg = /"msg":"([^"]*)"/.exec(l)?.[1] ?? l.slice(0, 120);
      samples.set(msg, (samples.get(msg) ?? 0) + 1);
    }
    return {
      kubernetesVersion: version.gitVersion ?? 'unknown',
      agents: n,
      setupMs: { nodes: nodesMs, pods: podsMs, tokens: tokensMs },
      operatorReadyMs,
      rssBeforeAgentsKb: before.rssKb,
      connectAllMs,
      connectCpuSeconds: atConnect.cpuSeconds - before.cpuSeconds,
      connectAttempts,
      connectRejections: rejections,
      statusAllMs,
      statusAllCpuSeconds: atStatus.cpuSeconds - before.cpuSeconds,
      rssAfterConnectKb: atStatus.rssKb,
      hwmAfterConnectKb: atStatus.hwmKb,
      quiet,
      heapUsedBytes,
      latencyMs,
      changeWindow,
      storm,
      operatorWarnings: warnLines.length,
      operatorWarningSamples: [...samples].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([m, c]) => `${c}× ${m}`),
      benchRssKb: process.memoryUsage().rss / 1024,
      wallMs: performance.now() - start,
    };
  } finally {
    await stopClients?.();
    await stopOperator?.();
    await stopEnv();
    await removeWork();
  }
}

