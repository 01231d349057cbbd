import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onlineCount, planInstances, type PlanInstancesInput } from '../../operator/instances/plan.ts';

const MI_A = 'mi-0000000000000000a';
const MI_B = 'mi-0000000000000000b';
const MI_GONE = 'mi-00000000000000001';
const MI_OTHER_CLUSTER = 'mi-00000000000000002';
const MI_OTHER_CONFIG = 'mi-00000000000000003';
const tags = (node: string, cluster = 'prod', config = 'demo') => ({ 'ssmagent.io/cluster': cluster, 'ssmagent.io/config': config, 'ssmagent.io/node': node });
const OURS = '11111111-1111-4111-8111-111111111111';
const OLD_OURS = '22222222-2222-4222-8222-222222222222';
const THEIRS = '33333333-3333-4333-8333-333333333333';
const inst = (id: string, t: Record<string, string>, activationId: string | null = OURS) => ({ id, tags: t, activationId: activationId ?? undefined });

const input = (over: Partial<PlanInstancesInput> = {}): PlanInstancesInput => ({
  cluster: 'prod',
  config: 'demo',
  nodes: [
    { node: 'node-a', instanceId: MI_A },
    { node: 'node-b', instanceId: MI_B },
  ],
  existingNodes: new Set(['node-a', 'node-b', 'node-c']),
  instances: [inst(MI_A, tags('node-a')), inst(MI_B, tags('node-b'))],
  ownActivations: new Set([OURS, OLD_OURS]),
  deregisterOnNodeDelete: true,
  uninstall: false,
  ...over,
});

test('all tagged, all nodes present: nothing to do', () => {
  assert.deepEqual(planInstances(input()), { tag: [], deregister: [], ignored: [] });
});

test('an instance a node reports but that lacks the node/cluster/config tags is tagged', () => {
  // MI_B: reported, SSM knows it (activation), but it carries none of our tags yet
  const p = planInstances(input({ instances: [inst(MI_A, { 'ssmagent.io/cluster': 'prod', 'ssmagent.io/config': 'demo' }), inst(MI_B, {})] }));
  assert.deepEqual(
    p.tag.map((t) => [t.id, t.node, t.tags]),
    [
      [MI_A, 'node-a', tags('node-a')],
      [MI_B, 'node-b', tags('node-b')],
    ],
  );
  assert.match(p.tag[0]?.reason ?? '', /ssmagent\.io\/node/);
  assert.deepEqual(p.deregister, []);
});

test('a reported instance whose node tag is stale (re-registered under another node) is re-tagged, not swept', () => {
  const p = planInstances(input({ instances: [inst(MI_A, tags('node-old')), inst(MI_B, tags('node-b'))] }));
  assert.deepEqual(p.tag.map((t) => t.id), [MI_A]);
  assert.deepEqual(p.deregister, []);
});

test('EC2 instances (i-…) are neither tagged nor deregistered', () => {
  const p = planInstances(input({ nodes: [{ node: 'node-a', instanceId: 'i-0123456789abcdef0' }], instances: [] }));
  assert.deepEqual(p, { tag: [], deregister: [], ignored: [] });
});

test('an instance tagged for this cluster and config but registered with another activation is never deregistered', () => {
  // Another cluster left at the same identity, or a copy of this config elsewhere: the tags match, the activation does not.
  const p = planInstances(input({ instances: [...input().instances, inst(MI_GONE, tags('node-deleted'), THEIRS), inst(MI_OTHER_CONFIG, tags('node-deleted'), null)] }));
  assert.deepEqual(p.deregister, []);
  const uninstall = planInstances(input({ uninstall: true, instances: [...input().instances, inst(MI_GONE, tags('node-deleted'), THEIRS)] }));
  assert.deepEqual(uninstall.deregister.map((d) => d.id).sort(), [MI_A, MI_B].sort());
});

test('an instance registered with an older activation of this config is still this config’s', () => {
  const p = planInstances(input({ instances: [...input().instances, inst(MI_GONE, tags('node-deleted'), OLD_OURS)] }));
  assert.deepEqual(p.deregister.map((d) => d.id), [MI_GONE]);
});

test('a node agent reporting an instance of another activation gets it neither tagged nor (later) deregistered', () => {
  // A compromised or confused node agent reports someone else's mi-: SSM says it registered with another activation.
  const p = planInstances(input({ nodes: [{ node: 'node-a', instanceId: MI_OTHER_CLUSTER }], instances: [inst(MI_OTHER_CLUSTER, {}, THEIRS)] }));
  assert.deepEqual(p.tag, []);
  assert.deepEqual(p.ignored.map((i) => [i.id, i.node, i.reason]), [[MI_OTHER_CLUSTER, 'node-a', 'NotThisConfigsActivation']]);
  assert.match(p.ignored[0]?.message ?? '', new RegExp(THEIRS));
  const unknown = planInstances(input({ nodes: [{ node: 'node-a', instanceId: MI_OTHER_CLUSTER }], instances: [] }));
  assert.deepEqual(unknown.tag, []);
  assert.equal(unknown.ignored.length, 1);
  const uninstall = planInstances(input({ uninstall: true, nodes: [{ node: 'node-a', instanceId: MI_OTHER_CLUSTER }], instances: [inst(MI_OTHER_CLUSTER, {}, THEIRS)] }));
  assert.deepEqual(uninstall.deregister, []);
});

test('an instance tagged for another cluster is not re-tagged as ours, except from the legacy shared default', () => {
  const p = planInstances(input({ nodes: [{ node: 'node-a', instanceId: MI_A }], instances: [inst(MI_A, tags('node-a', 'k8s-other'))] }));
  assert.deepEqual(p.tag, []);
  assert.deepEqual(p.ignored.map((i) => i.reason), ['OtherCluster']);
  const legacy = planInstances(input({ nodes: [{ node: 'node-a', instanceId: MI_A }], instances: [inst(MI_A, tags('node-a', 'kubernetes'))] }));
  assert.deepEqual(legacy.tag.map((t) => [t.id, t.tags['ssmagent.io/cluster']]), [[MI_A, 'prod']]);
});

test('the sweep deregisters only instances of nodes that are gone, and only those tagged for this cluster and config', () => {
  const p = planInstances(
    input({
      instances: [
        inst(MI_A, tags('node-a')),
        inst(MI_B, tags('node-b')),
        inst(MI_GONE, tags('node-deleted')),
        inst(MI_OTHER_CLUSTER, tags('node-deleted', 'staging')),
        inst(MI_OTHER_CONFIG, tags('node-deleted', 'prod', 'other')),
        inst('mi-00000000000000004', { 'ssmagent.io/cluster': 'prod', 'ssmagent.io/config': 'demo' }),
      ],
    }),
  );
  assert.deepEqual(p.deregister, [{ id: MI_GONE, node: 'node-deleted', reason: 'NodeDeleted', message: 'Node node-deleted no longer exists' }]);
});

test('a node that still exists keeps its instance even when its agent has not reported (yet)', () => {
  const p = planInstances(input({ nodes: [], instances: [inst(MI_GONE, tags('node-c'))] }));
  assert.deepEqual(p.deregister, []);
});

test('deregisterOnNodeDelete false: no sweep', () => {
  const p = planInstances(input({ deregisterOnNodeDelete: false, instances: [...input().instances, inst(MI_GONE, tags('node-deleted'))] }));
  assert.deepEqual(p.deregister, []);
});

test('Uninstall deregisters all of the config’s instances (tagged or reported), none of others', () => {
  const p = planInstances(
    input({
      uninstall: true,
      deregisterOnNodeDelete: false,
      nodes: [
        { node: 'node-a', instanceId: MI_A },
        { node: 'node-b', instanceId: MI_B },
      ],
      instances: [
        inst(MI_A, tags('node-a')),
        inst(MI_B, {}),
        inst(MI_GONE, tags('node-deleted')),
        inst(MI_OTHER_CLUSTER, tags('node-x', 'staging')),
        inst(MI_OTHER_CONFIG, tags('node-x', 'prod', 'other')),
      ],
    }),
  );
  assert.deepEqual(p.tag, []);
  assert.deepEqual(p.deregister.map((d) => d.id).sort(), [MI_A, MI_B, MI_GONE].sort());
  assert.ok(p.deregister.every((d) => d.reason === 'ConfigUninstalled'));
});

test('onlineCount counts the distinct reported instances SSM sees Online', () => {
  const status = new Map([
    [MI_A, { pingStatus: 'Online' }],
    [MI_B, { pingStatus: 'ConnectionLost' }],
  ]);
  assert.equal(onlineCount([MI_A, MI_A, MI_B, MI_GONE], status), 1);
});

test('a reused node name: the instance of the node’s previous host is deregistered once the node reports another', () => {
  const MI_NEW = 'mi-0000000000000000e';
  const p = planInstances(input({ nodes: [{ node: 'node-a', instanceId: MI_NEW }, { node: 'node-b', instanceId: MI_B }], instances: [inst(MI_A, tags('node-a')), inst(MI_B, tags('node-b')), inst(MI_NEW, {})] }));
  assert.deepEqual(p.deregister.map((d) => [d.id, d.reason]), [[MI_A, 'NodeReplaced']]);
  assert.match(p.deregister[0]?.message ?? '', new RegExp(MI_NEW));
  assert.deepEqual(p.tag.map((t) => t.id), [MI_NEW]);
  // Not while the node reports nothing yet (its new host may still be registering).
  const quiet = planInstances(input({ nodes: [{ node: 'node-b', instanceId: MI_B }], instances: [inst(MI_A, tags('node-a')), inst(MI_B, tags('node-b'))] }));
  assert.deepEqual(quiet.deregister, []);
});

test('a node deleted before any sweep tagged its instance: the Node’s annotation names it, and it goes', () => {
  // Registered through the activation (cluster and config tags from it), never tagged with the node.
  const untagged = { 'ssmagent.io/cluster': 'prod', 'ssmagent.io/config': 'demo' };
  const p = planInstances(input({ instances: [...input().instances, inst(MI_GONE, untagged)], deletedNodes: new Map([['node-gone', MI_GONE]]) }));
  assert.deepEqual(p.deregister.map((d) => [d.id, d.node, d.reason]), [[MI_GONE, 'node-gone', 'NodeDeleted']]);
  assert.match(p.deregister[0]?.message ?? '', /managed-instance-id annotation/);
  // Not another activation's, not one an existing node still reports, not when the name is back, not without the sweep.
  const cases: Partial<PlanInstancesInput>[] = [
    { instances: [inst(MI_GONE, untagged, THEIRS)], deletedNodes: new Map([['node-gone', MI_GONE]]) },
    { instances: [inst(MI_A, tags('node-a'))], deletedNodes: new Map([['node-gone', MI_A]]) },
    { instances: [inst(MI_GONE, untagged)], deletedNodes: new Map([['node-c', MI_GONE]]) },
    { instances: [inst(MI_GONE, untagged)], deletedNodes: new Map([['node-gone', MI_GONE]]), deregisterOnNodeDelete: false },
    { instances: [inst(MI_GONE, tags('node-gone', 'k8s-other'))], deletedNodes: new Map([['node-gone', MI_GONE]]) },
  ];
  for (const c of cases) assert.deepEqual(planInstances(input(c)).deregister, [], JSON.stringify(c, (_k, v: unknown) => (v instanceof Map || v instanceof Set ? [...v] : v)));
  // Tagged with its node as well: deregistered once, not twice.
  const both = planInstances(input({ instances: [...input().instances, inst(MI_GONE, tags('node-gone'))], deletedNodes: new Map([['node-gone', MI_GONE]]) }));
  assert.equal(both.deregister.length, 1);
});
