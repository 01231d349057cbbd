import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uninstallProgress } from '../../operator/controllers/uninstall-progress.ts';
import type { FleetEntry } from '../../operator/fleet/fleet-store.ts';

const entry = (node: string, uninstall?: 'ok' | 'changed' | 'failed', version?: string): FleetEntry => ({
  node,
  config: 'c',
  connected: true,
  state: { ...(uninstall ? { steps: [{ step: 'uninstall', status: uninstall }] } : {}), observation: { serviceActive: false, ...(version ? { version } : {}) } },
});

test('uninstall is done when every selected node confirms, or when the timeout passes', () => {
  assert.deepEqual(uninstallProgress(['a', 'b'], [entry('a', 'changed'), entry('b', 'ok')], 0, 1_000), { done: true, unconfirmed: [] });
  assert.deepEqual(uninstallProgress(['a', 'b'], [entry('a', 'changed')], 0, 1_000), { done: false, waitingFor: ['b'] });
  assert.deepEqual(uninstallProgress(['a'], [entry('a', 'failed')], 0, 1_000), { done: false, waitingFor: ['a'] }, 'a failed uninstall is not a confirmation');
  assert.deepEqual(uninstallProgress(['a'], [entry('a', 'ok', '3.3.1.0')], 0, 1_000), { done: false, waitingFor: ['a'] }, 'an agent version still installed is not a confirmation');
  assert.deepEqual(uninstallProgress(['a', 'b'], [entry('a', 'ok')], 0, 10 * 60_000), { done: true, unconfirmed: ['b'] }, 'after the timeout, the unconfirmed nodes are named');
  assert.deepEqual(uninstallProgress([], [], 0, 0), { done: true, unconfirmed: [] });
});
