// Bounded polling for the benchmarks. Unlike test/harness/wait.ts, an error thrown by `check` ends the wait at
// once (e.g. "the operator exited"); a check that can fail transiently must catch that itself.
import { setTimeout as sleep } from 'node:timers/promises';

export async function poll<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; i < 1_000_000; i++) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() >= deadline) break;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export { sleep };
