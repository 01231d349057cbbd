// The duplicate-registration rule (operator/instances/duplicates.ts), alone and inside planInstances.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_DUPLICATE_GRACE_MS, planDuplicates, type DuplicateCandidate, type HostAnchor, type PlanDuplicatesInput } from '../../operator/instances/duplicates.ts';
import { planInstances, type PlanInstancesInput, type TaggedInstance } from '../../operator/instances/plan.ts';

const NOW = new Date('2026-12-02T12:00:00Z');
const HOUR = 3_600_000;
const GRACE = 30 * 60_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const OURS = '11111111-1111-4111-8111-111111111111';
const THEIRS = '33333333-3333-4333-8333-333333333333';
const ourTags = (cluster = 'prod', config = 'demo') => ({ 'ssmagent.io/cluster': cluster, 'ssmagent.io/config': config });

const LOST = 'mi-0000000000000000d';
const OLD = 'mi-0000000000000000e';
const MI_A = 'mi-0000000000000000a';
const MI_B = 'mi-0000000000000000b';

/** a lost registration: never pinged (SSM says ConnectionLost), no ComputerName, registered two hours ago */
const lost = (over: Partial<DuplicateCandidate> = {}): DuplicateCandidate => ({ id: LOST, tags: ourTags(), pingStatus: 'ConnectionLost', registeredAt: ago(2 * HOUR), ...over });
const anchor = (node: string, id: string, over: Partial<DuplicateCandidate> = {}): HostAnchor => ({
  node,
  instance: { id, tags: { ...ourTags(), 'ssmagent.io/node': node }, pingStatus: 'Online', registeredAt: ago(HOUR), computerName: node, ...over },
});
const dup = (over: Partial<PlanDuplicatesInput> = {}) => planDuplicates({ candidates: [lost()], anchors: [anchor('node-a', MI_A)], now: NOW, graceMs: GRACE, ...over });

test('a never-pinged registration older than the grace period, with a host registered after it, is a duplicate', () => {
  const [d, ...rest] = dup();
  assert.deepEqual(rest, []);
  assert.equal(d?.id, LOST);
  assert.equal(d?.node, 'node-a');
  assert.equal(d?.current, MI_A);
  assert.match(d?.message ?? '', /never pinged/);
});

test('the host named for a never-pinged duplicate is the first to register after it', () => {
  const d = dup({ candidates: [lost({ registeredAt: ago(3 * HOUR) })], anchors: [anchor('late', MI_A, { registeredAt: ago(HOUR) }), anchor('early', MI_B, { registeredAt: ago(2 * HOUR) })] });
  assert.deepEqual(d.map((x) => [x.id, x.node]), [[LOST, 'early']]);
});

test('within the grace period it is left alone (its host may not have reported yet)', () => {
  assert.deepEqual(dup({ candidates: [lost({ registeredAt: ago(GRACE - 1) })] }), []);
  assert.equal(dup({ candidates: [lost({ registeredAt: ago(GRACE) })], anchors: [anchor('node-a', MI_A, { registeredAt: NOW })] }).length, 1, 'at exactly the grace period it goes');
});

test('an Online candidate is in use somewhere and is left alone', () => {
  assert.deepEqual(dup({ candidates: [lost({ pingStatus: 'Online' })] }), []);
});

test('missing or odd facts leave it alone: no registration date, an invalid date, no ping status, a node tag', () => {
  assert.deepEqual(dup({ candidates: [lost({ registeredAt: undefined })] }), []);
  assert.deepEqual(dup({ candidates: [lost({ registeredAt: new Date(Number.NaN) })] }), []);
  assert.deepEqual(dup({ candidates: [lost({ pingStatus: undefined })] }), []);
  assert.deepEqual(dup({ candidates: [lost({ tags: { ...ourTags(), 'ssmagent.io/node': 'node-x' } })] }), [], 'a node-tagged instance is NodeDeleted/NodeReplaced’s');
});

test('a registration date in the future is younger than any grace period', () => {
  assert.deepEqual(dup({ candidates: [lost({ registeredAt: new Date(NOW.getTime() + HOUR) })] }), []);
});

test('a negative or NaN grace period is the default one, never "everything is old"; zero is zero', () => {
  const now = [anchor('node-a', MI_A, { registeredAt: NOW })];
  assert.deepEqual(dup({ graceMs: -1, candidates: [lost({ registeredAt: ago(60_000) })], anchors: now }), []);
  assert.deepEqual(dup({ graceMs: Number.NaN, candidates: [lost({ registeredAt: ago(60_000) })], anchors: now }), []);
  assert.equal(dup({ graceMs: Number.NaN, candidates: [lost({ registeredAt: ago(DEFAULT_DUPLICATE_GRACE_MS) })], anchors: now }).length, 1);
  assert.equal(dup({ graceMs: 0, candidates: [lost({ registeredAt: ago(1) })], anchors: now }).length, 1);
  assert.deepEqual(dup({ graceMs: 0, candidates: [lost({ registeredAt: NOW })], anchors: now }), [], 'registered with the anchor, not before it: kept');
});

test('no anchor (annotation missing: no node reports an instance) leaves it alone', () => {
  assert.deepEqual(dup({ anchors: [] }), []);
});

test('the anchor must be Online and registered after the candidate', () => {
  assert.deepEqual(dup({ anchors: [anchor('node-a', MI_A, { pingStatus: 'ConnectionLost' })] }), []);
  assert.deepEqual(dup({ anchors: [anchor('node-a', MI_A, { pingStatus: undefined })] }), []);
  assert.deepEqual(dup({ anchors: [anchor('node-a', MI_A, { registeredAt: ago(3 * HOUR) })] }), [], 'the host registered before it: not a re-registration');
  assert.deepEqual(dup({ anchors: [anchor('node-a', MI_A, { registeredAt: undefined })] }), []);
});

test('an instance two Nodes report is nobody’s anchor; a reported candidate is never a duplicate', () => {
  assert.deepEqual(dup({ anchors: [anchor('node-a', MI_A), anchor('node-b', MI_A)] }), []);
  assert.deepEqual(dup({ anchors: [anchor('node-a', MI_A), anchor('node-b', LOST, { pingStatus: 'ConnectionLost' })] }), []);
});

test('a candidate with a ComputerName is matched to the Node whose instance pinged with that name', () => {
  const old = lost({ id: OLD, computerName: 'Node-A ', registeredAt: ago(3 * HOUR) });
  const [d, ...rest] = dup({ candidates: [old], anchors: [anchor('node-b', MI_B, { computerName: 'node-b', registeredAt: ago(2 * HOUR) }), anchor('node-a', MI_A)] });
  assert.deepEqual(rest, []);
  assert.deepEqual([d?.id, d?.node, d?.current], [OLD, 'node-a', MI_A], 'hostnames compare case-insensitively, trimmed');
  assert.match(d?.message ?? '', /registered twice/);
});

test('a ComputerName no reported instance has is left alone (another host’s, gone or not ours to judge)', () => {
  assert.deepEqual(dup({ candidates: [lost({ computerName: 'elsewhere' })] }), []);
});

test('two Nodes with the same hostname: nobody can tell whose the old instance was, it is left alone', () => {
  const old = lost({ id: OLD, computerName: 'localhost' });
  assert.deepEqual(dup({ candidates: [old], anchors: [anchor('node-a', MI_A, { computerName: 'localhost' }), anchor('node-b', MI_B, { computerName: 'LOCALHOST', pingStatus: 'ConnectionLost' })] }), []);
});

test('the hostname’s Node must have registered after the candidate', () => {
  assert.deepEqual(dup({ candidates: [lost({ computerName: 'node-a', registeredAt: ago(HOUR / 2) })] }), []);
});

test('a blank ComputerName counts as none', () => {
  assert.equal(dup({ candidates: [lost({ computerName: '  ' })] }).length, 1);
});

// ---- inside planInstances ----------------------------------------------------------------------------------------

const inst = (id: string, over: Partial<TaggedInstance> = {}): TaggedInstance => ({ id, tags: ourTags(), activationId: OURS, pingStatus: 'ConnectionLost', registeredAt: ago(2 * HOUR), ...over });
const plan = (over: Partial<PlanInstancesInput> = {}) =>
  planInstances({
    cluster: 'prod',
    config: 'demo',
    nodes: [{ node: 'node-a', instanceId: MI_A }],
    existingNodes: new Set(['node-a']),
    instances: [inst(MI_A, { tags: { ...ourTags(), 'ssmagent.io/node': 'node-a' }, pingStatus: 'Online', registeredAt: ago(HOUR), computerName: 'node-a' }), inst(LOST)],
    ownActivations: new Set([OURS]),
    deregisterOnNodeDelete: true,
    uninstall: false,
    now: NOW,
    duplicateGraceMs: GRACE,
    ...over,
  });

test('planInstances deregisters the duplicate, reason DuplicateRegistration, and nothing else', () => {
  const p = plan();
  assert.deepEqual(p.deregister.map((d) => [d.id, d.node, d.reason]), [[LOST, 'node-a', 'DuplicateRegistration']]);
  assert.deepEqual(p.tag, []);
});

test('planInstances: another activation’s, another cluster’s, another config’s look-alikes are left alone', () => {
  assert.deepEqual(plan({ instances: [inst(MI_A, { pingStatus: 'Online', registeredAt: ago(HOUR) }), inst(LOST, { activationId: THEIRS })] }).deregister, []);
  assert.deepEqual(plan({ instances: [inst(MI_A, { pingStatus: 'Online', registeredAt: ago(HOUR) }), inst(LOST, { activationId: undefined })] }).deregister, []);
  assert.deepEqual(plan({ instances: [inst(MI_A, { pingStatus: 'Online', registeredAt: ago(HOUR) }), inst(LOST, { tags: ourTags('other-cluster') })] }).deregister, []);
  assert.deepEqual(plan({ instances: [inst(MI_A, { pingStatus: 'Online', registeredAt: ago(HOUR) }), inst(LOST, { tags: ourTags('prod', 'other-config') })] }).deregister, []);
});

test('planInstances: an EC2 instance is never a duplicate; an anchor of another activation is no anchor', () => {
  assert.deepEqual(plan({ instances: [inst(MI_A, { pingStatus: 'Online', registeredAt: ago(HOUR) }), inst('i-0123456789abcdef0')] }).deregister, []);
  assert.deepEqual(plan({ instances: [inst(MI_A, { pingStatus: 'Online', registeredAt: ago(HOUR), activationId: THEIRS }), inst(LOST)] }).deregister, []);
});

test('planInstances: a Node that no longer exists is no anchor; without `now` or deregisterOnNodeDelete nothing is looked for', () => {
  assert.deepEqual(plan({ existingNodes: new Set() }).deregister.filter((d) => d.reason === 'DuplicateRegistration'), []);
  assert.deepEqual(plan({ now: undefined }).deregister, []);
  assert.deepEqual(plan({ deregisterOnNodeDelete: false }).deregister, []);
});

test('planInstances: an instance a deleted Node’s annotation named is NodeDeleted, not also a duplicate', () => {
  const p = plan({ deletedNodes: new Map([['node-gone', LOST]]) });
  assert.deepEqual(p.deregister.map((d) => [d.id, d.reason]), [[LOST, 'NodeDeleted']]);
});

test('planInstances: Uninstall is unchanged (every owned instance goes, once)', () => {
  const p = plan({ uninstall: true });
  assert.deepEqual(p.deregister.map((d) => d.reason), ['ConfigUninstalled', 'ConfigUninstalled']);
});
