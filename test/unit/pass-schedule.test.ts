// A host that did not converge is looked at again soon (with backoff), not only after the whole pass interval: on
// the real cluster a transient download reset otherwise held a rollout for 5 minutes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextPassDelayMs, RETRY_INITIAL_MS } from '../../node-agent/agent/pass-schedule.ts';

const INTERVAL = 300_000;

test('a converged host waits the pass interval', () => {
  assert.equal(nextPassDelayMs(0, INTERVAL), INTERVAL);
});

test('an unconverged host is retried after about 15 s, doubling, never later than the interval', () => {
  const top = () => 1; // the largest jitter
  const low = () => 0; // the smallest
  assert.equal(nextPassDelayMs(1, INTERVAL, top), RETRY_INITIAL_MS);
  assert.equal(nextPassDelayMs(1, INTERVAL, low), RETRY_INITIAL_MS / 2);
  assert.equal(nextPassDelayMs(2, INTERVAL, top), 2 * RETRY_INITIAL_MS);
  assert.equal(nextPassDelayMs(3, INTERVAL, top), 4 * RETRY_INITIAL_MS);
  assert.equal(nextPassDelayMs(20, INTERVAL, top), INTERVAL);
  for (let n = 1; n < 30; n++) assert.ok(nextPassDelayMs(n, INTERVAL) <= INTERVAL);
  // a short interval (tests, or a user's) is never stretched
  assert.equal(nextPassDelayMs(1, 5_000, top), 5_000);
});
