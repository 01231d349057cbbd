// The predicates in front of the controllers' queues: events that cannot change an outcome enqueue nothing, and
// every event that can still does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import type { KubeObject } from '../../operator/kube/client.ts';
import { inputEventMatters, ownedEventMattersFor, podEventMatters, ssmSyncConfigEventMatters, trimPod } from '../../operator/manager/event-routing.ts';
import type { PodObservation } from '../../operator/controllers/rollout.ts';
import { all, any, changed, generationChanged, notOwnWrite, resourceVersionChanged, WriteEchoes, type ObjectEvent } from '../../operator/runtime/predicates.ts';

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

test('WriteEchoes: the watch event carrying the version we wrote is our echo; a later version is not', () => {
  const echoes = new WriteEchoes(2);
  echoes.record(meta('10', 1, 'a'));
  const p = notOwnWrite(echoes);
  assert.equal(p({ type: 'add', object: meta('10', 1, 'a') }), false, 'our own create');
  assert.equal(p(update(meta('10', 1, 'a'), meta('11', 1, 'a'))), true, 'someone else wrote after us');
  assert.equal(p({ type: 'delete', object: meta('10', 1, 'a') }), true, 'a delete always counts');
  echoes.record(meta('3', 1, 'b'));
  echoes.record(meta('4', 1, 'c'));
  assert.equal(echoes.isEcho(meta('10', 1, 'a')), false, 'bounded: the oldest is dropped');
  assert.equal(echoes.isEcho(meta('4', 1, 'c')), true);
  echoes.record({ metadata: { resourceVersion: '9' } });
  assert.equal(echoes.isEcho({ metadata: { resourceVersion: '9' } }), false, 'no uid, no identity');
});

type Ds = KubeObject & { status?: Record<string, unknown> };
const ds = (rv: string, generation: number, status: Record<string, unknown>, labels: Record<string, string> = { a: '1' }): Ds => ({
  metadata: { uid: 'ds', name: 'ssm-node-agent-x', resourceVersion: rv, generation, labels },
  status,
});

test('owned DaemonSet: status churn outside the counts the status reads, and our own apply, enqueue nothing', () => {
  const echoes = new WriteEchoes();
  const matters = ownedEventMattersFor('DaemonSet', echoes);
  const counts = { observedGeneration: 2, desiredNumberScheduled: 3, numberReady: 1, updatedNumberScheduled: 3 };
  assert.equal(matters(update(ds('1', 2, counts), ds('2', 2, { ...counts, conditions: [], collisionCount: 1, currentNumberScheduled: 3 }))), false, 'fields nobody reads');
  assert.equal(matters(update(ds('1', 2, counts), ds('2', 2, { ...counts, numberReady: 2 }))), true, 'a count changed');
  assert.equal(matters(update(ds('1', 2, counts), ds('2', 2, { ...counts, observedGeneration: 3 }))), true, 'the controller observed a new generation');
  assert.equal(matters(update(ds('1', 2, counts), ds('2', 3, counts))), true, 'the spec changed (drift by hand)');
  assert.equal(matters(update(ds('1', 2, counts), ds('2', 2, counts, { a: '2' }))), true, 'labels changed (drift)');
  assert.equal(matters(update(ds('1', 2, counts), ds('1', 2, counts))), false, 'resourceVersion unchanged');
  echoes.record(ds('7', 4, counts));
  assert.equal(matters(update(ds('6', 3, counts), ds('7', 4, counts))), false, 'the echo of our own apply');
});

test('owned ConfigMap: any new version that is not our write is drift', () => {
  const echoes = new WriteEchoes();
  const matters = ownedEventMattersFor('ConfigMap', echoes);
  const cm = (rv: string, data: string) => ({ metadata: { uid: 'cm', resourceVersion: rv }, data: { k: data } }) as KubeObject;
  assert.equal(matters(update(cm('1', 'a'), cm('2', 'b'))), true);
  echoes.record(cm('3', 'c'));
  assert.equal(matters({ type: 'add', object: cm('3', 'c') }), false, 'the revision ConfigMap we just created');
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
