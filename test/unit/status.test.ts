import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeStatus, statusEqual, transitionEvents } from '../../operator/controllers/status.ts';

const ds = (desired: number, updated: number, available: number, observedCurrent = true) => ({
  generation: 2,
  status: { observedGeneration: observedCurrent ? 2 : 1, desiredNumberScheduled: desired, updatedNumberScheduled: updated, numberAvailable: available, numberReady: available },
});
const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions?.find((c) => c.type === type);

test('a fully rolled-out DaemonSet is Ready, not Progressing, not Degraded', () => {
  const s = computeStatus({ generation: 3, previous: undefined, now: 'T1', daemonSet: ds(3, 3, 3) });
  assert.equal(s.observedGeneration, 3);
  assert.deepEqual(s.nodes, { desired: 3, ready: 3, updated: 3 });
  assert.equal(cond(s, 'Ready')?.status, 'True');
  assert.equal(cond(s, 'Ready')?.reason, 'AllNodesReady');
  assert.equal(cond(s, 'Progressing')?.status, 'False');
  assert.equal(cond(s, 'Degraded')?.status, 'False');
  assert.equal(cond(s, 'Conflicted')?.status, 'False');
});

test('a rollout in progress is Progressing and not Ready; a stale observedGeneration is in progress', () => {
  const s = computeStatus({ generation: 1, previous: undefined, now: 'T1', daemonSet: ds(4, 1, 4) });
  assert.equal(cond(s, 'Progressing')?.status, 'True');
  assert.equal(cond(s, 'Ready')?.reason, 'RollingOut');
  const stale = computeStatus({ generation: 1, previous: undefined, now: 'T1', daemonSet: ds(4, 4, 4, false) });
  assert.equal(cond(stale, 'Progressing')?.status, 'True');
});

test('unavailable pods after rollout are Degraded; apply errors and invalid specs are Degraded with the reason', () => {
  assert.equal(cond(computeStatus({ generation: 1, previous: undefined, now: 'T', daemonSet: ds(4, 4, 2) }), 'Degraded')?.reason, 'NodeAgentsUnavailable');
  const failed = computeStatus({ generation: 1, previous: undefined, now: 'T', applyError: 'forbidden' });
  assert.equal(cond(failed, 'Degraded')?.reason, 'ApplyFailed');
  assert.match(cond(failed, 'Degraded')?.message ?? '', /forbidden/);
  assert.equal(cond(failed, 'Ready')?.status, 'False');
  assert.equal(cond(computeStatus({ generation: 1, previous: undefined, now: 'T', invalidSpec: ['spec.region: bad'] }), 'Degraded')?.reason, 'InvalidSpec');
});

test('a conflict blocks everything and zeroes the counts', () => {
  const s = computeStatus({ generation: 1, previous: undefined, now: 'T', conflict: { with: ['old'], nodes: ['n1'] }, daemonSet: ds(2, 2, 2) });
  assert.equal(cond(s, 'Conflicted')?.status, 'True');
  assert.equal(cond(s, 'Ready')?.reason, 'Conflicted');
  assert.equal(s.nodes?.desired, 0);
});

test('no selected node is not Ready, with a reason that says why', () => {
  const s = computeStatus({ generation: 1, previous: undefined, now: 'T', daemonSet: ds(0, 0, 0) });
  assert.equal(cond(s, 'Ready')?.reason, 'NoNodesSelected');
});

test('lastTransitionTime moves only when a status changes, so a second pass is equal and writes nothing', () => {
  const first = computeStatus({ generation: 1, previous: undefined, now: 'T1', daemonSet: ds(2, 2, 2) });
  const second = computeStatus({ generation: 1, previous: first, now: 'T2', daemonSet: ds(2, 2, 2) });
  assert.ok(statusEqual(first, second));
  const third = computeStatus({ generation: 2, previous: second, now: 'T3', daemonSet: ds(2, 1, 2) });
  assert.equal(cond(third, 'Ready')?.lastTransitionTime, 'T3');
  assert.equal(cond(third, 'Conflicted')?.lastTransitionTime, 'T1');
});

test('fleet counts and foreign conditions reported by others are preserved', () => {
  const previous = {
    nodes: { desired: 2, ready: 2, updated: 2, registered: 2, online: 1 },
    conditions: [{ type: 'ActivationReady', status: 'True' as const, lastTransitionTime: 'T0', reason: 'Valid', message: 'ok' }],
  };
  const s = computeStatus({ generation: 1, previous, now: 'T1', daemonSet: ds(3, 3, 3) });
  assert.deepEqual(s.nodes, { desired: 3, ready: 3, updated: 3, registered: 2, online: 1 });
  assert.ok(cond(s, 'ActivationReady'));
});

test('transition events: Ready, Conflicted, Degraded and conflict resolution', () => {
  const ready = computeStatus({ generation: 1, previous: undefined, now: 'T', daemonSet: ds(1, 1, 1) });
  assert.deepEqual(transitionEvents(undefined, ready).map((e) => e.reason), ['Ready']);
  assert.deepEqual(transitionEvents(ready, ready), []);
  const conflicted = computeStatus({ generation: 1, previous: ready, now: 'T', conflict: { with: ['a'], nodes: ['n'] } });
  assert.deepEqual(transitionEvents(ready, conflicted).map((e) => [e.type, e.reason]), [['Warning', 'Conflicted']]);
  const resolved = computeStatus({ generation: 1, previous: conflicted, now: 'T', daemonSet: ds(1, 1, 1) });
  assert.deepEqual(transitionEvents(conflicted, resolved).map((e) => e.reason), ['ConflictResolved', 'Ready']);
});

test('Ready summarises the fleet: pods ready, installed = registered = desired, the activation valid', () => {
  const fleet = (installed: number, registered: number, failing = 0) => ({
    installed,
    registered,
    failing,
    agentVersions: [{ version: '3.3.1.0', count: installed }],
    failingNodes: Array.from({ length: failing }, (_, i) => ({ node: `n${i}`, reason: 'InstallFailed', message: 'dpkg failed', since: 'T' })),
  });
  const complete = { target: 'r', applyDaemonSet: true, halted: false, failing: [], status: { currentRevision: 'r', state: 'RolloutComplete' as const, updated: 3, converged: 3, failed: 0 } };
  const at = (over: Partial<Parameters<typeof computeStatus>[0]>) => computeStatus({ generation: 2, previous: undefined, now: 'T', daemonSet: ds(3, 3, 3), rollout: complete, ...over });
  assert.equal(cond(at({ fleet: fleet(3, 3) }), 'Ready')?.status, 'True');
  assert.equal(cond(at({ fleet: fleet(2, 2) }), 'Ready')?.reason, 'NotInstalled');
  assert.equal(cond(at({ fleet: fleet(3, 2) }), 'Ready')?.reason, 'NotRegistered');
  const failing = at({ fleet: fleet(3, 3, 1) });
  assert.equal(cond(failing, 'Ready')?.status, 'False');
  assert.equal(cond(failing, 'Degraded')?.reason, 'NodesFailing');
  assert.match(cond(failing, 'Degraded')?.message ?? '', /n0 \(InstallFailed\)/);
  const expired = at({ fleet: fleet(3, 3), activation: { status: 'False', reason: 'ActivationExpired', message: 'expired yesterday' } });
  assert.equal(cond(expired, 'Degraded')?.reason, 'ActivationInvalid');
  assert.equal(cond(expired, 'Ready')?.status, 'False');
  assert.equal(cond(at({ daemonSet: ds(3, 3, 2), fleet: fleet(3, 3) }), 'Ready')?.status, 'False', 'a pod not ready (its host not converged)');
  const halted = at({ rollout: { ...complete, halted: true, failing: [{ node: 'n1', reason: 'NotFound', message: 'no package' }], status: { ...complete.status, state: 'Halted', updated: 1, converged: 0, failed: 1, haltedRevision: 'r', haltedGeneration: 2 } } });
  assert.equal(cond(halted, 'Progressing')?.reason, 'Halted');
  assert.equal(cond(halted, 'Progressing')?.status, 'False');
  assert.equal(cond(halted, 'Ready')?.reason, 'Halted');
  assert.equal(halted.rollout?.state, 'Halted');
});

test('a real DaemonSet (generation in metadata) whose controller has not seen its latest generation is still rolling out', () => {
  const real = { metadata: { generation: 3 }, status: { observedGeneration: 2, desiredNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 2 } };
  assert.equal(cond(computeStatus({ generation: 1, previous: undefined, now: 'T', daemonSet: real }), 'Progressing')?.status, 'True');
});
