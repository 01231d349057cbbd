import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onlineCount, planInstances, type PlanInstancesInput } from '../../operator/instances/plan.ts';

const MI_A = 'mi-0000000000000000a';
const MI_B = 'mi-0000000000000000b';
const MI_GONE = 'mi-00000000000000001';
const MI_OTHER_CLUSTER = 'mi-00000000000000002';
const MI_OTHER_CONFIG = 'mi-00000000000000003';
const tags = (node: string, cluster = 'prod', config = 'demo') => ({ 'ssmagent.io/cluster': cluster, 'ssmagent.io/config': config, 'ssmagent.io/node': node });

const input = (over: Partial<PlanInstancesInput> = {}): PlanInstancesInput => ({
  cluster: 'prod',
  config: 'demo',
  nodes: [
    { node: 'node-a', instanceId: MI_A },
    { node: 'node-b', instanceId: MI_B },
  ],
  existingNodes: new Set(['node-a', 'node-b', 'node-c']),
  instances: [
    { id: MI_A, tags: tags('node-a') },
    { id: MI_B, tags: tags('node-b') },
  ],
  deregisterOnNodeDelete: true,
  uninstall: false,
  ...over,
});

test('all tagged, all nodes present: nothing to do', () => {
  assert.deepEqual(planInstances(input()), { tag: [], deregister: [] });
});

test('an instance a node reports but that lacks the node/cluster/config tags is tagged', () => {
  const p = planInstances(input({ instances: [{ id: MI_A, tags: { 'ssmagent.io/cluster': 'prod', 'ssmagent.io/config': 'demo' } }] }));
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
  const p = planInstances(input({ instances: [{ id: MI_A, tags: tags('node-old') }, { id: MI_B, tags: tags('node-b') }] }));
  assert.deepEqual(p.tag.map((t) => t.id), [MI_A]);
  assert.deepEqual(p.deregister, []);
});

test('EC2 instances (i-…) are neither tagged nor deregistered', () => {
  const p = planInstances(input({ nodes: [{ node: 'node-a', instanceId: 'i-0123456789abcdef0' }], instances: [] }));
  assert.deepEqual(p, { tag: [], deregister: [] });
});

test('the sweep deregisters only instances of nodes that are gone, and only those tagged for this cluster and config', () => {
  const p = planInstances(
    input({
      instances: [
        { id: MI_A, tags: tags('node-a') },
        { id: MI_B, tags: tags('node-b') },
        { id: MI_GONE, tags: tags('node-deleted') },
        { id: MI_OTHER_CLUSTER, tags: tags('node-deleted', 'staging') },
        { id: MI_OTHER_CONFIG, tags: tags('node-deleted', 'prod', 'other') },
        { id: 'mi-00000000000000004', tags: { 'ssmagent.io/cluster': 'prod', 'ssmagent.io/config': 'demo' } },
      ],
    }),
  );
  assert.deepEqual(p.deregister, [{ id: MI_GONE, node: 'node-deleted', reason: 'NodeDeleted', message: 'Node node-deleted no longer exists' }]);
});

test('a node that still exists keeps its instance even when its agent has not reported (yet)', () => {
  const p = planInstances(input({ nodes: [], instances: [{ id: MI_GONE, tags: tags('node-c') }] }));
  assert.deepEqual(p.deregister, []);
});

test('deregisterOnNodeDelete false: no sweep', () => {
  const p = planInstances(input({ deregisterOnNodeDelete: false, instances: [...input().instances, { id: MI_GONE, tags: tags('node-deleted') }] }));
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
        { id: MI_A, tags: tags('node-a') },
        { id: MI_GONE, tags: tags('node-deleted') },
        { id: MI_OTHER_CLUSTER, tags: tags('node-x', 'staging') },
        { id: MI_OTHER_CONFIG, tags: tags('node-x', 'prod', 'other') },
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
