// The pure rollout decisions: which revision the DaemonSet references, pause, halt, counts, events; which
// revision ConfigMaps stay; when a node agent is ready (its host converged).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keepRevisions, revisionsToKeep } from '../../operator/controllers/revision-retention.ts';
import { planRollout, progressingVerdict, rolloutEvents, scaledCount, type PodObservation, type RolloutInput } from '../../operator/controllers/rollout.ts';
import type { FleetEntry } from '../../operator/fleet/fleet-store.ts';
import type { KubeObject } from '../../operator/kube/client.ts';

const pod = (node: string, revision: string, ready: boolean): PodObservation => ({
  metadata: { name: `p-${node}`, annotations: { 'ssmagent.io/revision': revision } },
  spec: { nodeName: node },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const failingReport = (node: string, revision?: string, since = 1): FleetEntry => ({
  node,
  config: 'c',
  connected: true,
  failingSince: since,
  state: { facts: { ...(revision ? { revision } : {}) }, steps: [{ step: 'install', status: 'failed', reason: 'NotFound', message: 'package 9.9.9.9 not found' }] },
});
const base = (over: Partial<RolloutInput> = {}): RolloutInput => ({
  generation: 2,
  paused: false,
  desiredRevision: 'new',
  liveRevision: 'new',
  previous: { currentRevision: 'old', state: 'RolloutComplete', updated: 3, converged: 3, failed: 0 },
  desiredNodes: 3,
  daemonSetObserved: true,
  pods: [pod('n1', 'new', false), pod('n2', 'old', true), pod('n3', 'old', true)],
  maxFailedNodes: 1,
  ...over,
});

test('a new revision rolls out: the DaemonSet references it, the old one is previous, counts are on the new one', () => {
  const plan = planRollout(base({ liveRevision: 'old', pods: [pod('n1', 'old', true), pod('n2', 'old', true), pod('n3', 'old', true)] }));
  assert.equal(plan.target, 'new');
  assert.equal(plan.applyDaemonSet, true);
  assert.equal(plan.halted, false);
  assert.deepEqual(plan.status, { currentRevision: 'new', previousRevision: 'old', state: 'RollingOut', updated: 0, converged: 0, failed: 0 });
  const later = planRollout(base({ previous: plan.status, pods: [pod('n1', 'new', true), pod('n2', 'new', false), pod('n3', 'old', true)] }));
  assert.deepEqual(later.status, { currentRevision: 'new', previousRevision: 'old', state: 'RollingOut', updated: 2, converged: 1, failed: 0 });
  const done = planRollout(base({ previous: later.status, pods: [pod('n1', 'new', true), pod('n2', 'new', true), pod('n3', 'new', true)] }));
  assert.equal(done.status?.state, 'RolloutComplete');
  assert.equal(done.status?.previousRevision, 'old', 'the previous revision is remembered after the rollout');
});

test('a node failing on the new revision halts the rollout, naming it; the halt sticks until the revision or the spec changes', () => {
  const plan = planRollout(base({ fleet: [failingReport('n1', 'new')] }));
  assert.equal(plan.halted, true);
  assert.equal(plan.status?.state, 'Halted');
  assert.equal(plan.status?.failed, 1);
  assert.equal(plan.status?.haltedRevision, 'new');
  const verdict = progressingVerdict(plan, 3);
  assert.equal(verdict.status, 'False');
  assert.equal(verdict.reason, 'Halted');
  assert.match(verdict.message, /n1 \(NotFound: install: package 9\.9\.9\.9 not found\)/);
  // n1 recovers: still halted (no node moves until the spec changes).
  const recovered = planRollout(base({ previous: plan.status, pods: [pod('n1', 'new', true), pod('n2', 'old', true), pod('n3', 'old', true)] }));
  assert.equal(recovered.halted, true);
  // A fixed spec is a new revision: the halt is lifted and the rollout resumes.
  const fixed = planRollout(base({ previous: plan.status, generation: 3, desiredRevision: 'fixed', liveRevision: 'new', fleet: [failingReport('n1', 'new')] }));
  assert.equal(fixed.halted, false);
  assert.equal(fixed.status?.state, 'RollingOut');
  assert.equal(fixed.status?.previousRevision, 'new');
});

test('failures below the threshold, on the old revision, or reported by the old pod do not halt', () => {
  assert.equal(planRollout(base({ maxFailedNodes: 2, fleet: [failingReport('n1', 'new')] })).halted, false, 'threshold 2: one failure goes on');
  assert.equal(planRollout(base({ maxFailedNodes: '50%', fleet: [failingReport('n1', 'new')] })).halted, false, '50% of 3 = 2');
  assert.equal(planRollout(base({ fleet: [failingReport('n2', 'old')] })).halted, false, 'n2 runs the old revision');
  assert.equal(planRollout(base({ fleet: [failingReport('n1', 'old')] })).halted, false, 'the report is about the old revision');
  assert.equal(planRollout(base({ maxFailedNodes: 0, fleet: [failingReport('n1', 'new')] })).halted, true, '0 halts at the first failure');
  // Every node on the new revision: nothing left to stop, so no halt (Ready and Degraded tell of the failure).
  const all = planRollout(base({ pods: [pod('n1', 'new', false), pod('n2', 'new', true), pod('n3', 'new', true)], fleet: [failingReport('n1', 'new')] }));
  assert.equal(all.halted, false);
  assert.equal(all.status?.failed, 1);
});

test('paused: the DaemonSet stays on the live revision, the pending one is named; paused from the start creates nothing', () => {
  const plan = planRollout(base({ paused: true, liveRevision: 'old', pods: [pod('n1', 'old', true)] }));
  assert.equal(plan.target, 'old');
  assert.equal(plan.applyDaemonSet, false);
  assert.equal(plan.status?.state, 'Paused');
  assert.equal(plan.status?.pendingRevision, 'new');
  assert.equal(progressingVerdict(plan, 3).reason, 'Paused');
  const nothing = planRollout(base({ paused: true, liveRevision: undefined }));
  assert.equal(nothing.target, undefined);
  assert.equal(nothing.applyDaemonSet, false);
  const unpaused = planRollout(base({ previous: plan.status, liveRevision: 'old', pods: [pod('n1', 'old', true)] }));
  assert.equal(unpaused.target, 'new');
  assert.equal(unpaused.status?.state, 'RollingOut');
});

test('events mark start, halt and completion, once each', () => {
  const started = planRollout(base({ liveRevision: 'old', pods: [] }));
  assert.deepEqual(rolloutEvents(base().previous, started.status, started, 3).map((e) => e.reason), ['RolloutStarted']);
  assert.deepEqual(rolloutEvents(started.status, started.status, started, 3), []);
  const halted = planRollout(base({ previous: started.status, fleet: [failingReport('n1', 'new')] }));
  assert.deepEqual(rolloutEvents(started.status, halted.status, halted, 3).map((e) => [e.type, e.reason]), [['Warning', 'RolloutHalted']]);
  const done = planRollout(base({ previous: started.status, pods: [pod('n1', 'new', true), pod('n2', 'new', true), pod('n3', 'new', true)] }));
  assert.deepEqual(rolloutEvents(started.status, done.status, done, 3).map((e) => e.reason), ['RolloutComplete']);
});

test('counts of a DaemonSet its controller has not seen yet (0 desired) are no completed rollout', () => {
  assert.equal(planRollout(base({ liveRevision: undefined, desiredNodes: 0, daemonSetObserved: false, pods: [] })).status?.state, 'RollingOut');
  assert.equal(planRollout(base({ desiredNodes: 0, daemonSetObserved: false, pods: [] })).status?.state, 'RollingOut');
  assert.equal(planRollout(base({ desiredNodes: 0, daemonSetObserved: true, pods: [] })).status?.state, 'RolloutComplete', 'no node selected: nothing to roll out');
});

test('int-or-percent thresholds scale like maxUnavailable (rounded up)', () => {
  assert.equal(scaledCount(2, 10), 2);
  assert.equal(scaledCount('10%', 15), 2);
  assert.equal(scaledCount('100%', 7), 7);
});

test('revisions are kept while a pod uses them, plus the current and the previous one; others are pruned', () => {
  const keep = revisionsToKeep({ current: 'c3', previous: 'c2', podRevisions: ['c1', 'c3'] });
  assert.deepEqual([...keep].sort(), ['c1', 'c2', 'c3']);
  const cm = (rev: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `x-${rev}`, labels: { 'ssmagent.io/revision': rev } } });
  const kept = keepRevisions(keep);
  assert.equal(kept(cm('c1')), true);
  assert.equal(kept(cm('c0')), false);
  assert.equal(kept({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'x', labels: { 'ssmagent.io/revision': 'c1' } } }), false, 'only revision ConfigMaps');
});

test('referenced Secrets are kept as digests only, and their events reach the configs that reference them', async () => {
  const { configsReferencing, digestOnly, trimPod } = await import('../../operator/manager/event-routing.ts');
  const { sampleConfig } = await import('../fixtures/configs.ts');
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'proxy', namespace: 'ns', resourceVersion: '7' }, data: { httpsProxy: 'aHR0cDovL3U6cEBwOjMxMjg=' } };
  const kept = digestOnly(secret);
  assert.ok(!JSON.stringify(kept).includes('aHR0cDovL3U6cEBwOjMxMjg='), 'the data is not cached');
  assert.match(kept.digest, /^[0-9a-f]{16}$/);
  assert.notEqual(kept.digest, digestOnly({ ...secret, data: { httpsProxy: 'b3RoZXI=' } }).digest);
  const configs = [sampleConfig('a', { proxy: { secretRef: { name: 'proxy' } } }), sampleConfig('b'), sampleConfig('c', { agent: { version: 'latest', verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt', source: { signingKeys: { configMap: 'keys', key: 'keys.asc' } } } })];
  assert.deepEqual(configsReferencing(configs, 'Secret', 'proxy'), ['a']);
  assert.deepEqual(configsReferencing(configs, 'ConfigMap', 'keys'), ['c']);
  assert.deepEqual(configsReferencing(configs, 'Secret', 'keys'), []);
  const pod = trimPod({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations: { 'ssmagent.io/revision': 'r1', other: 'x' } }, spec: { nodeName: 'n1' }, status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }] } } as never);
  assert.deepEqual(pod.metadata?.annotations, { 'ssmagent.io/revision': 'r1' });
  assert.deepEqual(pod.status?.conditions, [{ type: 'Ready', status: 'True' }]);
});
