// Runs runnables while this replica holds the leader lease, as controller-runtime's manager: acquire, start each
// runnable in order (a start may wait, e.g. for caches to sync), hold, then stop them in reverse order. It knows
// nothing of what the runnables are.

export interface Runnable {
  name: string;
  /** Starts; may wait (until the signal aborts) for what later runnables need. */
  start(signal: AbortSignal): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/** The leader lease as the manager needs it (kube/leader-election.ts). */
export interface Lease {
  acquire(signal: AbortSignal): Promise<boolean>;
  holdUntilLost(signal: AbortSignal): Promise<void>;
  release(): Promise<void>;
}

export type RunOutcome = 'stopped' | 'lost-leadership';

/** Resolves when `signal` aborts ('stopped') or the lease is lost ('lost-leadership'), all runnables stopped. */
export async function runUnderLease(opts: { lease?: Lease; runnables: readonly Runnable[]; signal: AbortSignal }): Promise<RunOutcome> {
  const { lease, signal } = opts;
  if (lease && !(await lease.acquire(signal))) return 'stopped';
  const started: Runnable[] = [];
  let outcome: RunOutcome = 'stopped';
  try {
    for (const r of opts.runnables) {
      if (signal.aborted) break;
      started.push(r);
      await r.start(signal);
    }
    if (lease) {
      await lease.holdUntilLost(signal);
      if (!signal.aborted) outcome = 'lost-leadership';
    } else if (!signal.aborted) {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    }
  } finally {
    for (const r of started.reverse()) await r.stop?.();
  }
  if (outcome === 'stopped') await lease?.release();
  return outcome;
}
