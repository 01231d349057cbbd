import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReconnectBackoff } from '../../node-agent/fleet/backoff.ts';

test('reconnect delays double from the initial delay up to the bound', () => {
  const top = new ReconnectBackoff({ initialMs: 1_000, maxMs: 30_000 }, () => 1);
  assert.deepEqual(Array.from({ length: 8 }, () => top.next()), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  assert.equal(top.failures, 8);
});

test('jitter draws each delay from [d/2, d], so agents cut off together come back spread out', () => {
  const bottom = new ReconnectBackoff({ initialMs: 1_000, maxMs: 30_000 }, () => 0);
  assert.deepEqual(Array.from({ length: 7 }, () => bottom.next()), [500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000]);
  const delays = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const b = new ReconnectBackoff({ initialMs: 1_000, maxMs: 30_000 });
    for (let k = 0; k < 3; k++) b.next();
    const d = b.next(); // the 4th: nominal 8 s
    assert.ok(d >= 4_000 && d <= 8_000, `${d}`);
    delays.add(d);
  }
  assert.ok(delays.size > 10, 'delays differ between agents');
});

test('reset after a good connection starts over from the initial delay', () => {
  const b = new ReconnectBackoff({ initialMs: 200, maxMs: 5_000 }, () => 1);
  for (let i = 0; i < 10; i++) b.next();
  assert.equal(b.next(), 5_000);
  b.reset();
  assert.equal(b.failures, 0);
  assert.equal(b.next(), 200);
});

test('defaults: 1 s doubling to 60 s; nonsense options are clamped, never zero or shrinking', () => {
  const d = new ReconnectBackoff({}, () => 1);
  const seq = Array.from({ length: 10 }, () => d.next());
  assert.equal(seq[0], 1_000);
  assert.equal(seq.at(-1), 60_000);
  const odd = new ReconnectBackoff({ initialMs: 0, maxMs: -5 }, () => 1);
  assert.deepEqual([odd.next(), odd.next()], [1, 1]);
});
