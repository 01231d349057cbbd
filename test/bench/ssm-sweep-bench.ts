// Benchmark: SSM API calls of one instance sweep with N managed instances (issue 11), beside the budget N/50 + 10,
// against the SSM emulator over the real SDK (adaptive retry, as the operator runs it). The first sweep after a
// start reads every instance's tags once (cold); every later one costs the tag-filtered listing's pages (warm).
// The warm sweep runs again under a rate limit in the emulator, counting ThrottlingException answers.
import { seedSweepFleet, sweepBudget } from '../harness/ssm-sweep.ts';
import { startSsmEmulator } from '../servers/ssm-emulator/index.ts';
import type { Cleanup } from './cleanup.ts';
import { secs, table } from './stats.ts';

export interface SsmSweepRow {
  instances: number;
  /** first sweep, no tags known: calls; undefined when skipped (see coldUpTo) */
  cold?: number;
  coldMs?: number;
  warm: number;
  warmMs: number;
  warmByOperation: Record<string, number>;
  /** the warm sweep under the emulator's rate limit: calls (retries included), throttled answers, errors left */
  limited: { calls: number; throttled: number; errors: number };
  budget: number;
}

export interface SsmSweepResult {
  rows: SsmSweepRow[];
  ratePerSecond: number;
  wallMs: number;
}

/** Rate limit the emulator applies in the limited sweep (an assumption, not SSM's published quota). */
const RATE_PER_SECOND = 20;

export async function runSsmSweepBench(opts: { sizes: number[]; coldUpTo: number; log: (line: string) => void }, cleanup: Cleanup): Promise<SsmSweepResult> {
  const start = performance.now();
  const rows: SsmSweepRow[] = [];
  for (const n of opts.sizes) {
    const emulator = await startSsmEmulator({ region: 'eu-west-1' });
    const stop = cleanup.defer(`stop SSM emulator (${n})`, () => emulator.stop());
    const fleet = seedSweepFleet(emulator, n);
    try {
      let cold: number | undefined;
      let coldMs: number | undefined;
      if (n <= opts.coldUpTo) {
        opts.log(`SSM sweep, ${n} instances: cold sweep…`);
        const t = performance.now();
        const c = await fleet.sweep();
        coldMs = performance.now() - t;
        if (c.outcome.errors.length > 0) throw new Error(`cold sweep failed: ${c.outcome.errors.join('; ')}`);
        cold = c.total;
      } else {
        // What a cold sweep would have read, put in the cache directly (reading 5,000 tags one by one is minutes here).
        for (const x of fleet.nodes) fleet.cache.set(x.instanceId, emulator.state.tags('ManagedInstance', x.instanceId) ?? {});
      }
      opts.log(`SSM sweep, ${n} instances: warm sweep…`);
      const t = performance.now();
      const w = await fleet.sweep();
      const warmMs = performance.now() - t;
      if (w.outcome.errors.length > 0) throw new Error(`warm sweep failed: ${w.outcome.errors.join('; ')}`);
      emulator.faults.throttleRate(RATE_PER_SECOND);
      const l = await fleet.sweep();
      emulator.faults.clear();
      rows.push({ instances: n, ...(cold !== undefined ? { cold, coldMs } : {}), warm: w.total, warmMs, warmByOperation: w.calls, limited: { calls: l.total, throttled: l.throttled, errors: l.outcome.errors.length }, budget: sweepBudget(n) });
    } finally {
      fleet.ssm.destroy();
      await stop();
    }
  }
  return { rows, ratePerSecond: RATE_PER_SECOND, wallMs: performance.now() - start };
}

export function printSsmSweep(r: SsmSweepResult): void {
  console.log('\nSSM API calls per instance sweep (SSM emulator, real SDK, adaptive retry)');
  console.log('   N hybrid instances registered with the config’s activation and tagged for it; every node reports its instance.');
  console.log(`   "limited": the warm sweep again with the emulator throttling above ${r.ratePerSecond} calls/s (an assumed quota).`);
  console.log(
    table([
      ['instances', 'budget N/50+10', 'warm sweep', 'cold sweep (tags read once)', 'limited: calls / throttled / errors'],
      ...r.rows.map((x) => [
        x.instances.toLocaleString('en-US'),
        String(Math.floor(x.budget)),
        `${x.warm} (${secs(x.warmMs)})`,
        x.cold !== undefined ? `${x.cold} (${secs(x.coldMs ?? 0)})` : 'not run',
        `${x.limited.calls} / ${x.limited.throttled} / ${x.limited.errors}`,
      ]),
    ]),
  );
}
