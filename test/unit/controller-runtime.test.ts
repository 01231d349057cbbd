// The one controller runtime: a Reconciler's result says done, retry with backoff, or look again after D, and the
// Controller (queue, workers, metrics) acts on it; runUnderLease starts runnables in order under the lease and
// stops them in reverse.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createOperatorMetrics } from '../../operator/observability/metrics.ts';
import { Controller, type ReconcileResult } from '../../operator/runtime/controller.ts';
import { runUnderLease, type Lease } from '../../operator/runtime/manager.ts';

const log = pino({ level: 'silent' });

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function counted(metrics: ReturnType<typeof createOperatorMetrics>, controller: string, result: string): Promise<number> {
  const m = await metrics.reconcileTotal.get();
  return m.values.find((v) => v.labels.controller === controller && v.labels.result === result)?.value ?? 0;
}

test('done, retry with backoff, and look again after: each as its result says, counted by controller and result', async () => {
  const metrics = createOperatorMetrics();
  const seen: string[] = [];
  const answers: Record<string, ReconcileResult[]> = { a: [{}], b: [{ error: 'boom' }, {}], c: [{ requeueAfterMs: 30 }, {}] };
  const controller = new Controller({
    name: 'test',
    workers: 2,
    log,
    metrics,
    queue: { baseDelayMs: 20 },
    reconciler: {
      async reconcile(key) {
        seen.push(key);
        return answers[key]?.shift() ?? {};
      },
    },
  });
  for (const k of ['a', 'b', 'c']) controller.enqueue(k);
  assert.deepEqual(seen, [], 'nothing runs before start');
  controller.start();
  await until('b retried and c looked at again', () => seen.filter((k) => k === 'b').length === 2 && seen.filter((k) => k === 'c').length === 2);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(seen.filter((k) => k === 'a').length, 1, 'done is done');
  assert.equal(await counted(metrics, 'test', 'error'), 1);
  assert.equal(await counted(metrics, 'test', 'success'), 4);
  await controller.stop();
});

test('a reconcile that throws is a retry, and a key is never reconciled by two workers at once', async () => {
  const metrics = createOperatorMetrics();
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  const controller = new Controller({
    name: 'throws',
    workers: 4,
    log,
    metrics,
    queue: { baseDelayMs: 5 },
    reconciler: {
      async reconcile() {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 10));
        running--;
        if (calls === 1) throw new Error('first try fails');
        return {};
      },
    },
  });
  controller.start();
  for (let i = 0; i < 5; i++) controller.enqueue('k');
  await until('the retry', () => calls >= 2);
  controller.enqueue('k');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(maxRunning, 1);
  assert.equal(await counted(metrics, 'throws', 'error'), 1);
  await controller.stop();
});

test('runUnderLease: runnables start in order once the lease is held, stop in reverse, and the lease is released on stop', async () => {
  const order: string[] = [];
  const abort = new AbortController();
  let released = false;
  const lease: Lease = {
    acquire: async () => {
      order.push('acquired');
      return true;
    },
    holdUntilLost: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
    release: async () => {
      released = true;
    },
  };
  const runnable = (name: string) => ({ name, start: () => void order.push(`start ${name}`), stop: () => void order.push(`stop ${name}`) });
  const done = runUnderLease({ lease, runnables: [runnable('caches'), runnable('controller')], signal: abort.signal });
  await until('started', () => order.length === 3);
  abort.abort();
  assert.equal(await done, 'stopped');
  assert.deepEqual(order, ['acquired', 'start caches', 'start controller', 'stop controller', 'stop caches']);
  assert.equal(released, true);
});

test('runUnderLease: a lost lease stops everything and is not released; nothing starts without the lease', async () => {
  const stopped: string[] = [];
  const lost: Lease = { acquire: async () => true, holdUntilLost: async () => undefined, release: async () => assert.fail('a lost lease is not released') };
  assert.equal(await runUnderLease({ lease: lost, runnables: [{ name: 'a', start: () => undefined, stop: () => void stopped.push('a') }], signal: new AbortController().signal }), 'lost-leadership');
  assert.deepEqual(stopped, ['a']);
  const never: Lease = { acquire: async () => false, holdUntilLost: async () => undefined, release: async () => undefined };
  assert.equal(await runUnderLease({ lease: never, runnables: [{ name: 'b', start: () => assert.fail('started without the lease') }], signal: new AbortController().signal }), 'stopped');
});
