// The predicates in front of the controllers' queues: events that cannot change an outcome enqueue nothing, and
// every event that can still does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import type { KubeObject } from '../../operator/kube/client.ts';
import { inputEventMatters, ownedEventWake, podEventMatters, ssmSyncConfigEventMatters, trimPod } from '../../operator/manager/event-routing.ts';
import type { PodObservation } from '../../operator/controllers/rollout.ts';
import { all, any, changed, generationChanged, resourceVersionChanged, WriteEchoes, type ObjectEvent } from '../../operator/runtime/predicates.ts';

const update = <T>(old: T, object: T): ObjectEvent<T> => ({ type: 'update', old, object });
const meta = (rv: string, generation = 1, uid = 'u1') => ({ metadata: { uid, resourceVersion: rv, generation } });

test('generationChanged passes adds, deletes and spec changes; drops status and metadata-only updates', () => {
  assert.equal(generationChanged({ type: 'add', object: meta('1') }), true);
  assert.equal(generationChanged({ type: 'delete', object: meta('1') }), true);
  assert.equal(generationChanged(update(meta('1', 1), meta('2', 2))), true);
  assert.equal(generationChanged(update(meta('1', 1), meta('2', 1))), false);
});

test('resourceVersionChanged drops a relist replaying the same version', () => {
  assert.equal(resourceVersionChanged(update(meta('5'), meta('5'))), false);
  assert.equal(resourceVersionChanged(update(meta('5'), meta('6'))), true);
});

test('all and any combine; changed compares a key of the object', () => {
  const byName = changed<{ n: string }>((o) => o.n);
  assert.equal(byName(update({ n: 'a' }, { n: 'a' })), false);
  assert.equal(byName(update({ n: 'a' }, { n: 'b' })), true);
  const never = () => false;
  const always = () => true;
  assert.equal(all(always, never)({ type: 'add', object: {} }), false);
  assert.equal(any(always, never)({ type: 'add', object: {} }), true);
});

test('WriteEchoes: the version we wrote, or the deletion of what we deleted, is our echo; an event during our write is judged when it ends', () => {
  const echoes = new WriteEchoes(2);
  const never = () => assert.fail('not someone else’s');
  echoes.begin('ConfigMap/ns/a');
  echoes.end('ConfigMap/ns/a', { resourceVersion: '10' });
  assert.equal(echoes.classify('ConfigMap/ns/a', '10', false, never), 'own', 'our own create');
  assert.equal(echoes.classify('ConfigMap/ns/a', '11', false, never), 'other', 'someone else wrote after us');
  assert.equal(echoes.classify('ConfigMap/ns/a', '10', true, never), 'other', 'a delete by someone else');
  echoes.begin('ConfigMap/ns/a');
  echoes.end('ConfigMap/ns/a', 'deleted');
  assert.equal(echoes.classify('ConfigMap/ns/a', '10', true, never), 'own', 'the delete of what we pruned');

  // The watch can be faster than the answer: the event is held until the write ends.
  let woken = 0;
  echoes.begin('DaemonSet/ns/d');
  assert.equal(echoes.classify('DaemonSet/ns/d', '20', false, () => woken++), 'held');
  assert.equal(echoes.classify('DaemonSet/ns/d', '19', false, () => woken++), 'held');
  echoes.end('DaemonSet/ns/d', { resourceVersion: '20' });
  assert.equal(woken, 1, 'our echo (20) stays quiet; the other change (19, the DaemonSet controller) wakes');
  echoes.begin('DaemonSet/ns/e');
  assert.equal(echoes.classify('DaemonSet/ns/e', '5', false, () => woken++), 'held');
  echoes.end('DaemonSet/ns/e', 'failed');
  assert.equal(woken, 2, 'a failed write echoes nothing');

  echoes.begin('ServiceAccount/ns/s');
  echoes.end('ServiceAccount/ns/s', { resourceVersion: '1' });
  assert.equal(echoes.classify('ConfigMap/ns/a', '10', true, never), 'other', 'bounded: the oldest is dropped');
});

type Ds = KubeObject & { status?: Record<string, unknown> };
const ds = (rv: string, generation: number, status: Record<string, unknown>, labels: Record<string, string> = { a: '1' }): Ds => ({
  metadata: { uid: 'ds', name: 'ssm-node-agent-x', resourceVersion: rv, generation, labels },
  status,
});

test('owned DaemonSet: drift wakes the reconcile now, its counts soon (coalesced), other status churn and our own apply never', () => {
  const echoes = new WriteEchoes();
  const owned = ownedEventWake('DaemonSet', echoes);
  const wake = (e: ObjectEvent<KubeObject>) => owned(e, () => assert.fail('nothing is held'));
  const counts = { observedGeneration: 2, desiredNumberScheduled: 3, numberReady: 1, updatedNumberScheduled: 3 };
  assert.equal(wake(update(ds('1', 2, counts), ds('2', 2, { ...counts, conditions: [], collisionCount: 1, currentNumberScheduled: 3 }))), 'never', 'fields nobody reads');
  assert.equal(wake(update(ds('1', 2, counts), ds('2', 2, { ...counts, numberReady: 2 }))), 'soon', 'a count changed');
  assert.equal(wake(update(ds('1', 2, counts), ds('2', 2, { ...counts, observedGeneration: 3 }))), 'soon', 'the controller observed a new generation');
  assert.equal(wake(update(ds('1', 2, counts), ds('2', 3, counts))), 'now', 'the spec changed (drift by hand)');
  assert.equal(wake(update(ds('1', 2, counts), ds('2', 2, counts, { a: '2' }))), 'now', 'labels changed (drift)');
  assert.equal(wake({ type: 'delete', object: ds('2', 2, counts) }), 'now', 'deleted by hand');
  assert.equal(wake(update(ds('1', 2, counts), ds('1', 2, counts))), 'never', 'resourceVersion unchanged');
  echoes.begin('DaemonSet/ssm-node-agent-x');
  echoes.end('DaemonSet/ssm-node-agent-x', { resourceVersion: '7' });
  assert.equal(wake(update(ds('6', 3, counts), ds('7', 4, counts))), 'never', 'the echo of our own apply');
});

test('owned ConfigMap: any new version that is not our write is drift', () => {
  const echoes = new WriteEchoes();
  const owned = ownedEventWake('ConfigMap', echoes);
  const cm = (rv: string, data: string) => ({ metadata: { name: 'rev', namespace: 'ns', resourceVersion: rv }, data: { k: data } }) as KubeObject;
  assert.equal(owned(update(cm('1', 'a'), cm('2', 'b')), () => assert.fail()), 'now');
  // our create's event arrives before the PATCH answer: held, then dropped as our echo
  echoes.begin('ConfigMap/ns/rev');
  let later = 0;
  assert.equal(owned({ type: 'add', object: cm('3', 'c') }, () => later++), 'never');
  echoes.end('ConfigMap/ns/rev', { resourceVersion: '3' });
  assert.equal(later, 0, 'the revision ConfigMap we just created wakes nothing');
});

test('pods: an update that leaves node, revision and readiness as they were enqueues nothing', () => {
  const pod = (rv: string, ready: string, extra: Record<string, unknown> = {}) =>
    trimPod({
      metadata: { name: 'p', namespace: 'ns', resourceVersion: rv, labels: { x: '1' }, annotations: { 'ssmagent.io/revision': 'r1', other: rv } },
      spec: { nodeName: 'n1' },
      status: { conditions: [{ type: 'Ready', status: ready }, { type: 'PodScheduled', status: 'True' }], ...extra },
    } as PodObservation & KubeObject);
  assert.equal(podEventMatters(update(pod('1', 'False'), pod('2', 'False', { podIP: '10.0.0.1' }))), false);
  assert.equal(podEventMatters(update(pod('1', 'False'), pod('2', 'True'))), true);
});

test('referenced inputs: only a change of their data counts', () => {
  const input = (rv: string, digest: string) => ({ metadata: { resourceVersion: rv }, digest }) as KubeObject;
  assert.equal(inputEventMatters(update(input('1', 'd1'), input('2', 'd1'))), false);
  assert.equal(inputEventMatters(update(input('1', 'd1'), input('2', 'd2'))), true);
});

test('the SSM sync wakes for spec, SSM bookkeeping, deletion and registrations, not for its own outcome in status', () => {
  const config = (o: { generation?: number; annotations?: Record<string, string>; registered?: number; online?: number; deleting?: boolean } = {}): SsmAgentConfig =>
    ({
      apiVersion: 'ssmagent.io/v1alpha1',
      kind: 'SsmAgentConfig',
      metadata: { name: 'c', generation: o.generation ?? 1, annotations: o.annotations ?? {}, ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
      spec: {},
      status: { nodes: { desired: 3, ready: 0, updated: 0, registered: o.registered ?? 0, online: o.online ?? 0 } },
    }) as unknown as SsmAgentConfig;
  assert.equal(ssmSyncConfigEventMatters(update(config(), config({ online: 2 }))), false, 'its own online count');
  assert.equal(ssmSyncConfigEventMatters(update(config(), config())), false, 'a status write that changed nothing of ours');
  assert.equal(ssmSyncConfigEventMatters(update(config(), config({ generation: 2 }))), true, 'the spec');
  assert.equal(ssmSyncConfigEventMatters(update(config(), config({ registered: 1 }))), true, 'a host registered');
  assert.equal(ssmSyncConfigEventMatters(update(config(), config({ annotations: { 'ssmagent.io/activation-ids': 'a' } }))), true, 'activation history');
  assert.equal(ssmSyncConfigEventMatters(update(config(), config({ deleting: true }))), true, 'deletion');
  assert.equal(ssmSyncConfigEventMatters({ type: 'add', object: config() }), true);
});
