import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from '../../operator/runtime/work-queue.ts';

test('a key added many times is queued once', async () => {
  const q = new WorkQueue();
  for (let i = 0; i < 100; i++) q.add('a');
  q.add('b');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.length, 0);
});

test('a key added while it is processed runs again after done, never concurrently', async () => {
  const q = new WorkQueue();
  q.add('a');
  const key = await q.get();
  q.add('a');
  assert.equal(q.length, 0, 'not handed out while processing');
  q.done(key as string);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), 'a');
});

test('a waiting worker is woken by add, and by shutdown with undefined', async () => {
  const q = new WorkQueue();
  const waiting = q.get();
  q.add('x');
  assert.equal(await waiting, 'x');
  const second = q.get();
  q.shutdown();
  assert.equal(await second, undefined);
});

test('failures back off exponentially per key and forget resets', () => {
  const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
  const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited('k'));
  assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
  assert.equal(q.numRequeues('k'), 5);
  q.forget('k');
  assert.equal(q.addRateLimited('k'), 100);
  q.shutdown();
});

test('the overall token bucket slows retries once the burst is spent', () => {
  let now = 0;
  const q = new WorkQueue({ baseDelayMs: 1, maxDelayMs: 1, qps: 10, burst: 2, now: () => now });
  assert.equal(q.addRateLimited('a'), 1);
  assert.equal(q.addRateLimited('b'), 1);
  assert.equal(q.addRateLimited('c'), 100, 'third retry waits for a token');
  now = 10_000;
  assert.equal(q.addRateLimited('d'), 1, 'tokens refill over time');
  q.shutdown();
});

test('addAfter delivers the key later', async () => {
  const q = new WorkQueue();
  q.addAfter('later', 20);
  assert.equal(q.length, 0);
  assert.equal(await q.get(), 'later');
});

test('addAfter keeps the earliest time: a later request does not delay it, an earlier one is not swallowed', async () => {
  const q = new WorkQueue();
  q.addAfter('a', 60_000);
  q.addAfter('a', 20);
  const got = await Promise.race([q.get(), new Promise((r) => setTimeout(() => r('late'), 2_000))]);
  assert.equal(got, 'a', 'the 20 ms request wins over the pending 60 s one');
  q.done('a');
  q.addAfter('b', 20);
  q.addAfter('b', 60_000);
  assert.equal(await Promise.race([q.get(), new Promise((r) => setTimeout(() => r('late'), 2_000))]), 'b');
  q.shutdown();
});
