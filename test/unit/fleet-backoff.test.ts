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

test('after a lost connection (an operator restart) the first retry has full jitter over the whole reconnect window', () => {
  // 5,000 agents cut off at once: drawn over 20 s, about 250 a second come back, not 5,000 in the first second.
  const zero = new ReconnectBackoff({ initialMs: 1_000, maxMs: 60_000, reconnectWindowMs: 20_000 }, () => 0);
  zero.lost();
  assert.deepEqual(Array.from({ length: 3 }, () => zero.next()), [0, 500, 1_000], 'full jitter, then the usual backoff from the start');
  const top = new ReconnectBackoff({ initialMs: 1_000, maxMs: 60_000, reconnectWindowMs: 20_000 }, () => 1);
  top.lost();
  assert.deepEqual(Array.from({ length: 3 }, () => top.next()), [20_000, 1_000, 2_000]);
  const spread = Array.from({ length: 5_000 }, () => {
    const b = new ReconnectBackoff({ reconnectWindowMs: 20_000 });
    b.lost();
    return b.next();
  });
  const perSecond = new Array<number>(20).fill(0);
  for (const d of spread) perSecond[Math.min(19, Math.floor(d / 1000))]! += 1;
  assert.ok(Math.max(...perSecond) < 400, `at most ~250 ± noise a second, got ${Math.max(...perSecond)}`);
  assert.ok(Math.min(...perSecond) > 100, `every second of the window gets its share, got ${Math.min(...perSecond)}`);
  // The default window is 20 s, never longer than the bound of the delay (tests use short bounds).
  const d = new ReconnectBackoff({}, () => 1);
  d.lost();
  assert.equal(d.next(), 20_000);
  const short = new ReconnectBackoff({ initialMs: 100, maxMs: 1_000 }, () => 1);
  short.lost();
  assert.equal(short.next(), 1_000);
  // A fresh agent (first start) is not held back by the window.
  const fresh = new ReconnectBackoff({}, () => 1);
  assert.equal(fresh.next(), 1_000);
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
