// The operator as a child process (`node operator/main.ts`) against a test control plane, on a free loopback port:
// what the demo, the leader-election test and the benchmarks run (test/integration/operator.test.ts runs it in
// process instead). A managed process (test/harness/managed-process.ts): it never outlives the test process.
import { join } from 'node:path';
import { freePort } from './control-plane.ts';
import { describeExit, logTail, serverEnv, sleep, startProcess, type ManagedProcess } from './managed-process.ts';
import { NAMESPACE, REPO } from './operator-env.ts';
import { OPERATOR_NODE_OPTIONS } from '../../operator/image/operator-runtime.ts';

const TEST_NODE_AGENT_IMAGE = 'example.com/ssm-agent-operator:test';
const READY_TIMEOUT_MS = 30_000;
/** Short: the benchmarks time the start-up with it. */
const READY_POLL_MS = 25;
const HTTP_TIMEOUT_MS = 5_000;

export interface StartOperatorProcessOptions {
  readonly kubeconfigPath: string;
  /** stdout and stderr (the JSON log) are appended here */
  readonly logPath: string;
  /** the process's name in messages; default ssm-agent-operator */
  readonly name?: string;
  /** NODE_AGENT_IMAGE; default TEST_NODE_AGENT_IMAGE */
  readonly nodeAgentImage?: string;
  /**
   * Environment over the defaults (KUBECONFIG, POD_NAMESPACE, NODE_AGENT_IMAGE, HTTP_PORT, LEADER_ELECTION=false,
   * LOG_LEVEL=info), e.g. LEADER_ELECTION, POD_NAME, LEASE_DURATION_SECONDS, RENEW_DEADLINE_SECONDS,
   * RETRY_PERIOD_SECONDS, LOG_LEVEL. A NODE_OPTIONS here is appended to the chart's (OPERATOR_NODE_OPTIONS).
   */
  readonly env?: Readonly<Record<string, string>>;
  /** wait for /readyz before resolving (on failure the process is stopped); default true */
  readonly waitReady?: boolean;
  /** default 30 s */
  readonly readyTimeoutMs?: number;
}

export interface OperatorProcess {
  readonly name: string;
  readonly proc: ManagedProcess;
  readonly pid: number;
  /** HTTP_PORT: /readyz, /healthz and /metrics */
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly logPath: string;
  /** performance.now() just before the process was spawned */
  readonly spawnedAt: number;
  /** throws, with the log tail, once the process has exited */
  assertRunning(): void;
  /** resolves when /readyz answers 200 (informers synced); bounded, and fails at once if the process exits */
  waitReady(timeoutMs?: number): Promise<void>;
  /** the text of /metrics */
  metrics(): Promise<string>;
  /** ssm_operator_reconcile_total summed by its result label (success, error, …) */
  reconciles(): Promise<Map<string, number>>;
  logTail(lines?: number): string;
  /** SIGTERM, SIGKILL after graceMs (default 15 s) */
  stop(graceMs?: number): Promise<void>;
}

/** ssm_operator_reconcile_total of one controller (the SsmAgentConfig one unless told) from a /metrics text,
 * summed by result label. The SSM sync counts under controller="ssm-sync". */
export function reconcilesByResult(metricsText: string, controller = 'ssmagentconfig'): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('ssm_operator_reconcile_total{') || !line.includes(`controller="${controller}"`)) continue;
    const result = /result="([^"]*)"/.exec(line)?.[1] ?? '?';
    out.set(result, (out.get(result) ?? 0) + Number(line.split(' ').pop()));
  }
  return out;
}

export function sumReconciles(byResult: ReadonlyMap<string, number>): number {
  let sum = 0;
  for (const v of byResult.values()) sum += v;
  return sum;
}

export async function startOperatorProcess(opts: StartOperatorProcessOptions): Promise<OperatorProcess> {
  const name = opts.name ?? 'ssm-agent-operator';
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const spawnedAt = performance.now();
  const proc = startProcess({
    name,
    command: process.execPath,
    args: [join(REPO, 'operator', 'main.ts')],
    logPath: opts.logPath,
    cwd: REPO,
    env: serverEnv({
      KUBECONFIG: opts.kubeconfigPath,
      POD_NAMESPACE: NAMESPACE,
      NODE_AGENT_IMAGE: opts.nodeAgentImage ?? TEST_NODE_AGENT_IMAGE,
      HTTP_PORT: String(port),
      FLEET_PORT: String(await freePort()),
      LEADER_ELECTION: 'false',
      LOG_LEVEL: 'info',
      ...opts.env,
      // Node as the chart's Deployment runs it; options a caller adds (a profile, heap snapshots) come after.
      NODE_OPTIONS: [OPERATOR_NODE_OPTIONS, opts.env?.NODE_OPTIONS].filter(Boolean).join(' '),
    }),
  });
  const tail = (lines?: number) => logTail(proc.logPath, lines);

  const assertRunning = (): void => {
    const st = proc.exitStatus();
    if (st) throw new Error(`${name} ${describeExit(st)}; log tail (${proc.logPath}):\n${tail()}`);
  };

  const waitReady = async (timeoutMs = READY_TIMEOUT_MS): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    let last = 'no answer yet';
    for (let attempt = 0; attempt < 1_000_000; attempt++) {
      assertRunning();
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message; // not listening yet
      }
      if (performance.now() >= deadline) break;
      await sleep(READY_POLL_MS);
    }
    throw new Error(`${name}: /readyz did not answer 200 within ${timeoutMs} ms (last: ${last}); log tail (${proc.logPath}):\n${tail()}`);
  };

  const metrics = async (): Promise<string> => {
    assertRunning();
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${name}: GET /metrics answered HTTP ${res.status}`);
    return text;
  };

  const operator: OperatorProcess = {
    name,
    proc,
    pid: proc.pid,
    port,
    url,
    logPath: proc.logPath,
    spawnedAt,
    assertRunning,
    waitReady,
    metrics,
    reconciles: async () => reconcilesByResult(await metrics()),
    logTail: tail,
    stop: (graceMs = 15_000) => proc.stop(graceMs),
  };
  if (opts.waitReady ?? true) {
    try {
      await waitReady(opts.readyTimeoutMs);
    } catch (err) {
      await proc.stop(5_000).catch(() => undefined);
      throw err;
    }
  }
  return operator;
}
