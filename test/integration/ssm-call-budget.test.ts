// The SSM call budget of the instance sweep (issue 11): with N managed instances it lists this cluster's and
// config's instances by server-side tag filters on DescribeInstanceInformation (pages of 50) and reads no tags it
// already knows, so a sweep costs ≤ N/50 + 10 calls, not one ListTagsForResource per instance. Against the SSM
// emulator over the real SDK; the emulator's filters answer as the real API does, validation errors included.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DescribeInstanceInformationCommand, type DescribeInstanceInformationCommandInput } from '@aws-sdk/client-ssm';
import { createSsmApi, ssmErrorCode, type SsmApi } from '../../operator/aws/index.ts';
import { TAG_NODE } from '../../operator/activations/tags.ts';
import { seedSweepFleet, sweepBudget } from '../harness/ssm-sweep.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

let emulator: SsmEmulator;
let api: SsmApi;

before(async () => {
  emulator = await startSsmEmulator({ region: 'eu-west-1' });
  api = createSsmApi({ region: emulator.region, endpoint: emulator.url, credentials: { kind: 'static', ...emulator.credentials }, maxAttempts: 1 });
});

after(async () => {
  api?.destroy();
  await emulator?.stop();
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(ssmErrorCode(err), code, String(err));
    return true;
  });
}

test('DescribeInstanceInformation filters: tag:KEY and tag-key match; bad keys, mixed filters and bad page sizes are refused as SSM refuses them', async () => {
  emulator.state.reset();
  const a = emulator.state.addInstance({ tags: [{ Key: 'team', Value: 'red' }] });
  emulator.state.addInstance({ tags: [{ Key: 'team', Value: 'blue' }] });
  emulator.state.addInstance({ tags: [] });
  const send = (input: DescribeInstanceInformationCommandInput) => api.client.send(new DescribeInstanceInformationCommand(input));
  const ids = async (input: DescribeInstanceInformationCommandInput) => ((await send(input)).InstanceInformationList ?? []).map((i) => i.InstanceId);
  assert.deepEqual(await ids({ Filters: [{ Key: 'tag:team', Values: ['red'] }] }), [a.instanceId]);
  assert.equal((await ids({ Filters: [{ Key: 'tag:team', Values: ['red', 'blue'] }] })).length, 2, 'values of one filter: any');
  assert.equal((await ids({ Filters: [{ Key: 'tag-key', Values: ['team'] }] })).length, 2);
  assert.deepEqual(await ids({ Filters: [{ Key: 'tag:team', Values: ['red'] }, { Key: 'tag-key', Values: ['team'] }] }), [a.instanceId], 'filters: all');
  await rejectsWith(send({ Filters: [{ Key: 'Team', Values: ['red'] }] }), 'InvalidFilterKey');
  await rejectsWith(send({ Filters: [{ Key: 'tag:', Values: ['red'] }] }), 'InvalidFilterKey');
  await rejectsWith(send({ Filters: [{ Key: 'tag:team', Values: [] }] }), 'InvalidInstanceInformationFilterValue');
  await rejectsWith(send({ Filters: [{ Key: 'tag:team', Values: Array.from({ length: 101 }, (_, i) => `v${i}`) }] }), 'InvalidInstanceInformationFilterValue');
  await rejectsWith(send({ Filters: [{ Key: 'tag:team', Values: ['red'] }, { Key: 'ResourceType', Values: ['ManagedInstance'] }] }), 'InvalidInstanceInformationFilterValue');
  await rejectsWith(send({ Filters: [{ Key: 'PingStatus', Values: ['Sleeping'] }] }), 'InvalidInstanceInformationFilterValue');
  await rejectsWith(send({ MaxResults: 51 }), 'ValidationException');
  await rejectsWith(send({ MaxResults: 4 }), 'ValidationException');
});

test('a sweep of 500 instances costs ≤ N/50 + 10 calls once their tags are known, and none of them reads tags', async (t) => {
  emulator.state.reset();
  const n = 500;
  const fleet = seedSweepFleet(emulator, n);
  try {
    const cold = await fleet.sweep();
    assert.deepEqual(cold.outcome.errors, []);
    assert.equal(cold.outcome.online, n);
    t.diagnostic(`cold sweep (no tags known yet): ${cold.total} calls ${JSON.stringify(cold.calls)}`);
    const warm = await fleet.sweep();
    assert.deepEqual(warm.outcome.errors, []);
    assert.equal(warm.outcome.online, n);
    assert.equal(warm.calls.ListTagsForResource ?? 0, 0, 'no tag is read again');
    assert.ok(warm.total <= sweepBudget(n), `a sweep made ${warm.total} calls, budget ${sweepBudget(n)}: ${JSON.stringify(warm.calls)}`);
    assert.deepEqual(warm.outcome.tagged, [], 'nothing to tag');
    assert.deepEqual(warm.outcome.deregistered, []);

    // A node goes: its instance is deregistered by the sweep, still from the cached tags, at the same cost.
    const gone = fleet.nodes[7];
    assert.ok(gone);
    const existing = new Set(fleet.nodes.filter((x) => x.node !== gone.node).map((x) => x.node));
    fleet.nodes.splice(7, 1);
    const after = await fleet.sweep({ existingNodes: existing });
    assert.deepEqual(after.outcome.deregistered.map((d) => [d.id, d.reason]), [[gone.instanceId, 'NodeDeleted']]);
    assert.ok(after.total <= sweepBudget(n) + 1, `${after.total} calls`);
    assert.equal(emulator.state.instance(gone.instanceId), undefined);
  } finally {
    fleet.ssm.destroy();
  }
});

test('an instance whose tags changed behind the operator leaves the listing and is read afresh, not trusted from the cache', async () => {
  emulator.state.reset();
  const fleet = seedSweepFleet(emulator, 3);
  try {
    await fleet.sweep();
    const moved = fleet.nodes[0];
    assert.ok(moved);
    // someone re-tags it for another cluster: the tag-filtered listing no longer returns it
    await api.tagInstance(moved.instanceId, { 'ssmagent.io/cluster': 'other-cluster' });
    const next = await fleet.sweep();
    assert.equal(next.calls.ListTagsForResource, 1, 'its tags are read again');
    assert.deepEqual(next.outcome.ignored.map((i) => [i.id, i.reason]), [[moved.instanceId, 'OtherCluster']]);
    assert.deepEqual(next.outcome.tagged, [], 'another cluster’s instance is not re-tagged');
    assert.equal(emulator.state.tags('ManagedInstance', moved.instanceId)?.['ssmagent.io/cluster'], 'other-cluster');
    assert.equal(emulator.state.tags('ManagedInstance', fleet.nodes[1]?.instanceId ?? '')?.[TAG_NODE], 'node-1');
  } finally {
    fleet.ssm.destroy();
  }
});
