// The operator as a child process (`node operator/main.ts`), so its memory and CPU can be read from /proc.
import { join } from 'node:path';
import { freePort } from '../harness/control-plane.ts';
import { logTail, serverEnv, startProcess, type ManagedProcess } from '../harness/managed-process.ts';
import { NAMESPACE, REPO } from '../harness/operator-env.ts';
import { poll } from './poll.ts';

export const NODE_AGENT_IMAGE = 'example/img:1';

export interface OperatorProcess {
  readonly pid: number;
  readonly metricsUrl: string;
  readonly proc: ManagedProcess;
  /** performance.now() just before the process was spawned */
  readonly spawnedAt: number;
  /** Sum of ssm_operator_reconcile_total, by result label (success, error, …). */
  reconciles(): Promise<Map<string, number>>;
  /** V8 heap in use (prom-client's nodejs_heap_size_used_bytes), bytes. */
  heapUsedBytes(): Promise<number>;
  /** Resolves when /readyz answers 200 (informers synced). */
  waitReady(timeoutMs: number): Promise<void>;
  logTail(): string;
  stop(): Promise<void>;
}

async function httpGet(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, text: await res.text() };
}

export function sumReconciles(byResult: Map<string, number>): number {
  let sum = 0;
  for (const v of byResult.values()) sum += v;
  return sum;
}

export async function spawnOperator(kubeconfigPath: string, logDir: string): Promise<OperatorProcess> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const spawnedAt = performance.now();
  const proc = startProcess({
    name: 'ssm-agent-operator',
    command: process.execPath,
    args: [join(REPO, 'operator', 'main.ts')],
    logPath: join(logDir, 'operator.log'),
    cwd: REPO,
    env: serverEnv({
      KUBECONFIG: kubeconfigPath,
      POD_NAMESPACE: NAMESPACE,
      NODE_AGENT_IMAGE,
      HTTP_PORT: String(port),
      LEADER_ELECTION: 'false',
      LOG_LEVEL: 'warn',
    }),
  });
  const alive = () => {
    const st = proc.exitStatus();
    if (st) throw new Error(`the operator exited (code ${String(st.code)}, signal ${String(st.signal)}); log tail:\n${logTail(proc.logPath)}`);
  };
  return {
    pid: proc.pid,
    metricsUrl: `${base}/metrics`,
    proc,
    spawnedAt,
    async reconciles() {
      alive();
      const { text } = await httpGet(`${base}/metrics`);
      const out = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (!line.startsWith('ssm_operator_reconcile_total{')) continue;
        const result = /result="([^"]*)"/.exec(line)?.[1] ?? '?';
        out.set(result, (out.get(result) ?? 0) + Number(line.split(' ').pop()));
      }
      return out;
    },
    async heapUsedBytes() {
      alive();
      const { text } = await httpGet(`${base}/metrics`);
      const line = text.split('\n').find((l) => l.startsWith('ssm_operator_process_nodejs_heap_size_used_bytes'));
      return line ? Number(line.split(' ').pop()) : Number.NaN;
    },
    async waitReady(timeoutMs: number) {
      await poll(
        'the operator /readyz',
        async () => {
          alive();
          try {
            return (await httpGet(`${base}/readyz`)).status === 200 ? true : undefined;
          } catch {
            return undefined; // not listening yet
          }
        },
        timeoutMs,
        25,
      );
    },
    logTail: () => logTail(proc.logPath),
    stop: () => proc.stop(15_000),
  };
}
