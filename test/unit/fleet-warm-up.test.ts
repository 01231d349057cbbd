// A new leader's fleet report is incomplete while the agents reconnect: status keeps what the previous leader
// wrote until every selected node reported or the reconnect window passed (fleetForStatus, FleetStore warm-up).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SsmAgentConfigStatus } from '../../operator/api/types.ts';
import { fleetForStatus } from '../../operator/controllers/fleet-aggregate.ts';
import { FleetStore, type FleetEntry } from '../../operator/fleet/fleet-store.ts';

const entry = (node: string, version: string): FleetEntry => ({
  node,
  config: 'c',
  connected: true,
  state: { observation: { serviceActive: true, version, instanceId: `mi-${node.padStart(17, '0')}` } },
});
const previous: SsmAgentConfigStatus = {
  nodes: { desired: 3, ready: 3, updated: 3, installed: 3, registered: 3, failing: 1 },
  agentVersions: [{ version: '3.3.1.0', count: 3 }],
  failingNodes: [{ node: 'n3', reason: 'StepFailed', message: 'x', since: '2026-12-01T00:00:00.000Z' }],
};
const selected = new Set(['n1', 'n2', 'n3']);

test('while warming with nodes not yet reported, the previous leader’s counts stand and the pass looks again', () => {
  const r = fleetForStatus({ entries: [entry('n1', '3.3.2.0')], selected, previous, warmingMs: 5_000 });
  assert.equal(r.incomplete, true);
  assert.deepEqual(r.fleet, { installed: 3, registered: 3, failing: 1, agentVersions: previous.agentVersions, failingNodes: previous.failingNodes });
});

test('once every selected node reported, the reports count even while warming', () => {
  const r = fleetForStatus({ entries: ['n1', 'n2', 'n3'].map((n) => entry(n, '3.3.2.0')), selected, previous, warmingMs: 5_000 });
  assert.equal(r.incomplete, false);
  assert.equal(r.fleet.installed, 3);
  assert.equal(r.fleet.failing, 0);
  assert.deepEqual(r.fleet.agentVersions, [{ version: '3.3.2.0', count: 3 }]);
});

test('a report from a node the config no longer selects does not complete the picture', () => {
  const r = fleetForStatus({ entries: [entry('n1', '3.3.2.0'), entry('n2', '3.3.2.0'), entry('gone', '3.3.2.0')], selected, previous, warmingMs: 5_000 });
  assert.equal(r.incomplete, true);
  assert.equal(r.fleet.installed, 3, 'previous');
});

test('after the window, what reported is the truth: a node that never came back is not installed', () => {
  const r = fleetForStatus({ entries: [entry('n1', '3.3.2.0')], selected, previous, warmingMs: 0 });
  assert.equal(r.incomplete, false);
  assert.equal(r.fleet.installed, 1);
});

test('with nothing written before (a first install), the partial reports are shown as they come', () => {
  const r = fleetForStatus({ entries: [entry('n1', '3.3.2.0')], selected, previous: { nodes: { desired: 3, ready: 0, updated: 0 } }, warmingMs: 5_000 });
  assert.equal(r.incomplete, false, 'nothing held back: no pass needed at the end of the window');
  assert.equal(r.fleet.installed, 1);
});

test('while warming, previous counts equal to the reports (agents that never reported): no extra pass is asked for', () => {
  const quiet: SsmAgentConfigStatus = { nodes: { desired: 3, ready: 0, updated: 0, installed: 0, registered: 0, failing: 0 }, agentVersions: [], failingNodes: [] };
  const r = fleetForStatus({ entries: [], selected, previous: quiet, warmingMs: 5_000 });
  assert.equal(r.incomplete, false);
  assert.equal(r.fleet.installed, 0);
});

test('the store warms for the window it is given, from when the server starts', () => {
  let now = 1_000;
  const store = new FleetStore(() => undefined, () => now);
  assert.equal(store.warmingMs(), 0, 'never started: warm');
  store.startWarmUp(30_000);
  now += 10_000;
  assert.equal(store.warmingMs(), 20_000);
  now += 25_000;
  assert.equal(store.warmingMs(), 0);
});
