// The operator as a child process for the benchmarks (test/harness/operator-process.ts), so its memory and CPU can
// be read from /proc: quieter logs, not waited for (the scale bench times its start-up), and its V8 heap.
import { join } from 'node:path';
import { startOperatorProcess, type OperatorProcess as HarnessOperatorProcess } from '../harness/operator-process.ts';

export { sumReconciles } from '../harness/operator-process.ts';

export const NODE_AGENT_IMAGE = 'example/img:1';

export interface OperatorProcess extends HarnessOperatorProcess {
  /** V8 heap in use (prom-client's nodejs_heap_size_used_bytes), bytes. */
  heapUsedBytes(): Promise<number>;
}

/**
 * Spawns the operator (logging to logDir/operator.log) and returns at once; call waitReady() to wait for /readyz.
 * `env` over the defaults: the in-cluster credentials (test/harness/in-cluster-credentials.ts) and NODE_COMPILE_CACHE
 * make it the process a pod runs.
 */
export async function spawnOperator(kubeconfigPath: string, logDir: string, env: Readonly<Record<string, string>> = {}): Promise<OperatorProcess> {
  const op = await startOperatorProcess({
    kubeconfigPath,
    logPath: join(logDir, 'operator.log'),
    nodeAgentImage: NODE_AGENT_IMAGE,
    env: { LOG_LEVEL: 'warn', ...env },
    waitReady: false,
  });
  return {
    ...op,
    async heapUsedBytes() {
      const line = (await op.metrics()).split('\n').find((l) => l.startsWith('nodejs_heap_size_used_bytes'));
      return line ? Number(line.split(' ').pop()) : Number.NaN;
    },
  };
}
