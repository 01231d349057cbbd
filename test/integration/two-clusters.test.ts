// Two clusters, both with the chart's default settings (no clusterName), each with an SsmAgentConfig of the same
// name and a managed activation, against one Systems Manager (the emulator): a node that exists in one cluster only
// must never make the other cluster's operator deregister that node's managed instance. Each operator sweeps only
// the instances its own activations registered, under a cluster identity of its own (the kube-system UID).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP } from '../../operator/manifests/names.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import type { FleetClient } from '../../node-agent/fleet/client.ts';
import { connectFakeAgent } from '../harness/fake-node-agent.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { startSsmForOperator, type SsmForOperator } from '../harness/ssm-for-operator.ts';
import { waitFor } from '../harness/wait.ts';

const CONFIG = 'hybrid';
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const MANIFEST = `apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: ${CONFIG}}
spec:
  region: eu-west-1
  registration:
    mode: Hybrid
    activation:
      managed: {iamRole: SSMServiceRole, registrationLimit: 10}
`;

interface Cluster {
  env: OperatorTestEnv;
  operator: Operator;
  agents: FleetClient[];
  fleetPort: number;
  work: string;
}

let ssm: SsmForOperator;
const clusters: Cluster[] = [];

const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

async function startCluster(node: string): Promise<Cluster> {
  const work = mkdtempSync(join(tmpdir(), 'ssm-two-clusters-'));
  const env = await startOperatorTestEnv({ controllerManager: false });
  await env.createNode(node);
  // No CLUSTER_NAME: the chart's default (clusterName: "").
  const started = await startInProcessOperator(env, { ...ssm.settings, SSM_SYNC_INTERVAL_SECONDS: '1' });
  const c: Cluster = { env, operator: started.operator, agents: [], fleetPort: started.fleetPort, work };
  clusters.push(c);
  const r = await env.kubectl(['apply', '-f', '-'], MANIFEST);
  assert.equal(r.code, 0, r.stderr);
  return c;
}

async function activationOf(c: Cluster): Promise<string> {
  const secret = await waitFor('the managed activation Secret', () =>
    c.env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name: `ssm-activation-${CONFIG}` })),
  60_000);
  return decode(secret.data.activationId);
}

/** A host of `c` registers with its activation (SSM copies the activation's tags onto it) and its agent reports it. */
async function registerNode(c: Cluster, node: string, activationId: string): Promise<string> {
  const activation = ssm.emulator.state.activation(activationId);
  assert.ok(activation, `activation ${activationId} exists`);
  const instance = ssm.emulator.state.addInstance({ activationId, iamRole: activation.iamRole, tags: activation.tags, computerName: node });
  const ca = await waitFor('the fleet CA', () => c.env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP })));
  writeFileSync(join(c.work, 'ca.crt'), ca.data[FLEET_CA_KEY] ?? '');
  const agent = await connectFakeAgent({ client: c.env.client, namespace: NAMESPACE, node, config: CONFIG, fleetPort: c.fleetPort, caFile: join(c.work, 'ca.crt'), workDir: c.work, log: silent });
  c.agents.push(agent);
  agent.update({ steps: [{ step: 'register', status: 'ok' }], observation: { serviceActive: true, version: '3.3.1.0', instanceId: instance.instanceId } });
  return instance.instanceId;
}

const sweeps = () => ssm.emulator.state.callsTo('DescribeInstanceInformation').length;

before(async () => {
  ssm = await startSsmForOperator('eu-west-1');
  const a = await startCluster('a-1');
  const b = await startCluster('b-1');
  await Promise.all([activationOf(a), activationOf(b)]);
});

after(async () => {
  for (const c of clusters) {
    for (const agent of c.agents) await agent.stop();
    await c.operator.stop();
    await c.env.stop();
    rmSync(c.work, { recursive: true, force: true });
  }
  await ssm?.stop();
});

test('two clusters with default settings have distinct identities and never deregister each other’s instances', async () => {
  const [a, b] = clusters as [Cluster, Cluster];
  const [actA, actB] = [await activationOf(a), await activationOf(b)];
  assert.notEqual(actA, actB, 'each cluster has its own activation');
  const clusterTag = (id: string) => ssm.emulator.state.tags('Activation', id)?.['ssmagent.io/cluster'];
  assert.ok(clusterTag(actA) && clusterTag(actB), 'activations carry a cluster tag');
  assert.notEqual(clusterTag(actA), clusterTag(actB), 'the two clusters tag with different identities');
  const kubeSystemUid = async (c: Cluster) => (await c.env.client.get<{ metadata: { uid: string } }>(resourcePath(RESOURCES.namespace, { name: 'kube-system' }))).metadata.uid;
  assert.match(clusterTag(actA) ?? '', new RegExp(await kubeSystemUid(a)), 'the identity is derived from the kube-system UID');

  const miA = await registerNode(a, 'a-1', actA);
  const miB = await registerNode(b, 'b-1', actB);
  // Both operators tag their instances with their node, then sweep again and again.
  await waitFor('both instances tagged with their node', () =>
    ssm.emulator.state.tags('ManagedInstance', miA)?.['ssmagent.io/node'] === 'a-1' && ssm.emulator.state.tags('ManagedInstance', miB)?.['ssmagent.io/node'] === 'b-1',
  60_000, 200);
  const before = sweeps();
  await waitFor('several more sweeps by both operators', () => sweeps() >= before + 8, 60_000, 200);
  assert.ok(ssm.emulator.state.instance(miA), `${miA} (node a-1, only in cluster A) is still registered`);
  assert.ok(ssm.emulator.state.instance(miB), `${miB} (node b-1, only in cluster B) is still registered`);
  assert.equal(ssm.emulator.state.callsTo('DeregisterManagedInstance').length, 0, 'nobody deregistered anything');

  // A node deleted in B: B deregisters its own instance, A's stays.
  await b.env.client.request('DELETE', resourcePath(RESOURCES.node, { name: 'b-1' }));
  await waitFor(`${miB} deregistered by cluster B`, () => ssm.emulator.state.instance(miB) === undefined, 60_000, 200);
  const after = sweeps();
  await waitFor('more sweeps', () => sweeps() >= after + 4, 60_000, 200);
  assert.ok(ssm.emulator.state.instance(miA), `${miA} is still registered`);
  const conf = await b.env.getOrUndefined<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }));
  assert.ok(conf, 'config still there');
});

test('a Node deleted before any sweep tagged its instance is deregistered from the Node’s managed-instance-id annotation', async () => {
  const [a, b] = clusters as [Cluster, Cluster];
  const actA = await activationOf(a);
  const activation = ssm.emulator.state.activation(actA);
  assert.ok(activation);
  // Registered with A's activation (so only its tags: cluster and config), never reported, never tagged with a node.
  const orphan = ssm.emulator.state.addInstance({ activationId: actA, tags: activation.tags });
  // B's twin: the same node name in cluster B, an instance of B's activation: B must not touch A's, nor A B's.
  await a.env.createNode('a-2');
  await a.env.client.request('PATCH', resourcePath(RESOURCES.node, { name: 'a-2' }), {
    contentType: 'application/merge-patch+json',
    body: { metadata: { annotations: { 'ssmagent.io/managed-instance-id': orphan.instanceId } } },
  });
  const start = sweeps();
  await waitFor('a few sweeps with the Node present', () => sweeps() >= start + 4, 60_000, 200);
  assert.ok(ssm.emulator.state.instance(orphan.instanceId), 'kept while its Node exists');
  await a.env.client.request('DELETE', resourcePath(RESOURCES.node, { name: 'a-2' }));
  await waitFor(`${orphan.instanceId} deregistered`, () => ssm.emulator.state.instance(orphan.instanceId) === undefined, 60_000, 200);
  assert.ok(b, 'cluster B ran alongside');
});
