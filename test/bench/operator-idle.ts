// The operator before any work: a control plane with the CRD and no config, no Node; the operator process spawned
// as a pod runs it (in-cluster credentials in files, the warm compile cache of the image), and once more with a
// kubeconfig (which loads @kubernetes/client-node), each sampled beside a bare Node process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inClusterCredentials } from '../harness/in-cluster-credentials.ts';
import { NAMESPACE, startOperatorTestEnv } from '../harness/operator-env.ts';
import { startBareNode, warmCompileCache } from './bare-node.ts';
import type { Cleanup } from './cleanup.ts';
import { spawnOperator } from './operator-process.ts';
import { sleep } from './poll.ts';
import { sampleProc } from './proc-stats.ts';

const SETTLE_MS = 10_000;
const SAMPLES = 6;
const SAMPLE_EVERY_MS = 2_000;

export interface IdleSample {
  /** VmRSS average over the samples, KiB */
  rssAvgKb: number;
  hwmKb: number;
  heapUsedBytes: number;
}

export interface OperatorIdleResult {
  inCluster: IdleSample;
  kubeconfig: IdleSample;
  bareNodeRssAvgKb: number;
  wallMs: number;
}

export async function runOperatorIdleBench(opts: { log: (line: string) => void }, cleanup: Cleanup): Promise<OperatorIdleResult> {
  const start = performance.now();
  opts.log('operator idle: starting a control plane (etcd, kube-apiserver)…');
  const env = await startOperatorTestEnv({ controllerManager: false });
  const stopEnv = cleanup.defer('stop control plane (operator idle)', () => env.stop());
  const dir = mkdtempSync(join(tmpdir(), 'ssm-bench-idle-'));
  const bare = await startBareNode();
  const stopBare = cleanup.defer('stop the bare node process', async () => bare.stop());
  try {
    const cacheDir = join(dir, 'compile-cache');
    warmCompileCache(cacheDir, [process.getuid?.() ?? 0]);
    const creds = await inClusterCredentials({ admin: env.client, server: env.cp.server, caCertPath: env.cp.caCertPath, namespace: NAMESPACE, serviceAccount: 'ssm-agent-operator', dir: join(dir, 'serviceaccount'), home: dir });
    const bareRss: number[] = [];
    const measure = async (what: string, extraEnv: Record<string, string>): Promise<IdleSample> => {
      opts.log(`operator idle: ${what}…`);
      const op = await spawnOperator(env.cp.kubeconfigPath, dir, { ...extraEnv, NODE_COMPILE_CACHE: cacheDir });
      const stop = cleanup.defer(`stop operator (idle, ${what})`, () => op.stop());
      try {
        await op.waitReady(60_000);
        await sleep(SETTLE_MS);
        const rss: number[] = [];
        for (let i = 0; i < SAMPLES; i++) {
          rss.push(sampleProc(op.pid).rssKb);
          bareRss.push(bare.rssKb());
          await sleep(SAMPLE_EVERY_MS);
        }
        return { rssAvgKb: rss.reduce((a, b) => a + b, 0) / rss.length, hwmKb: sampleProc(op.pid).hwmKb, heapUsedBytes: await op.heapUsedBytes() };
      } finally {
        await stop();
      }
    };
    const inCluster = await measure('in-cluster credentials (as in a pod)', creds.env);
    const kubeconfig = await measure('a kubeconfig (loads @kubernetes/client-node)', {});
    return { inCluster, kubeconfig, bareNodeRssAvgKb: bareRss.reduce((a, b) => a + b, 0) / bareRss.length, wallMs: performance.now() - start };
  } finally {
    await stopBare();
    await stopEnv();
    rmSync(dir, { recursive: true, force: true });
  }
}
