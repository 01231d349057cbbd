// The reference for the memory figures: a bare Node process (the same binary, nothing loaded, a timer keeping it
// alive), measured in the same run as the process it is compared with, so a noisy machine moves both.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './poll.ts';
import { sampleProc } from './proc-stats.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface BareNode {
  pid: number;
  /** VmRSS now, KiB */
  rssKb(): number;
  stop(): void;
}

/** `node -e 'setInterval(…)'`, settled for a moment before it is sampled. */
export async function startBareNode(): Promise<BareNode> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot start a bare node process');
  await sleep(1_000);
  return {
    pid,
    rssKb: () => sampleProc(pid).rssKb,
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}

/**
 * Warms a compile cache as the image build does (operator/image/warm-compile-cache.ts), so the process measured
 * loads what it loads in the pod: the stripped sources from the cache, not Node's TypeScript stripper.
 */
export function warmCompileCache(dir: string, uids: readonly number[]): void {
  const r = spawnSync(process.execPath, [join(REPO, 'operator', 'image', 'warm-compile-cache.ts'), ...uids.map(String)], {
    env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: dir },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`warming the compile cache failed (${String(r.status ?? r.signal)}): ${r.stderr}`);
}
