// Node agents report over the fleet channel; the operator turns the reports into the config's status and the
// Nodes' annotations — against a real kube-apiserver, with a real TokenReview of bound tokens.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import type { NodeState } from '../../operator/api/fleet-protocol.ts';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP } from '../../operator/manifests/names.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { FleetClient } from '../../node-agent/fleet/client.ts';
import { connectFakeAgent } from '../harness/fake-node-agent.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';

const CONFIG = 'fleet-demo';
const SA = `ssm-node-agent-${CONFIG}`;
let env: OperatorTestEnv;
let operator: Operator;
let fleetPort: number;
let work: string;
const clients: FleetClient[] = [];
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

const getConfig = () => env.getOrUndefined<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }));
type Node = { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };
const getNode = (name: string) => env.getOrUndefined<Node>(resourcePath(RESOURCES.node, { name }));

const healthy = (version: string, instanceId: string): NodeState => ({
  steps: [{ step: 'install', status: 'ok' }, { step: 'register', status: 'ok' }],
  observation: { serviceActive: true, version, instanceId, region: 'eu-west-1' },
});

async function connectAgent(node: string): Promise<FleetClient> {
  const client = await connectFakeAgent({ client: env.client, namespace: NAMESPACE, node, config: CONFIG, fleetPort, caFile: join(work, 'ca.crt'), workDir: work, log: silent });
  clients.push(client);
  return client;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-fleet-status-'));
  env = await startOperatorTestEnv();
  for (const node of ['node-a', 'node-b']) await env.createNode(node, { pool: 'fleet' });
  ({ operator, fleetPort } = await startInProcessOperator(env));
  const r = await env.kubectl(['apply', '-f', '-'], `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${CONFIG}}\nspec: {region: eu-west-1, nodeSelector: {pool: fleet}}\n`);
  assert.equal(r.code, 0, r.stderr);
  // The node agents' ServiceAccount comes from the operator; the CA from the ConfigMap it keeps.
  await waitFor('the node agents’ ServiceAccount', () => env.getOrUndefined(resourcePath(RESOURCES.serviceAccount, { namespace: NAMESPACE, name: SA })));
  const ca = await waitFor('the fleet CA ConfigMap', () => env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP })));
  writeFileSync(join(work, 'ca.crt'), ca.data[FLEET_CA_KEY] ?? '');
});

after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await operator?.stop();
  await env?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('the DaemonSet tells the node agents where the fleet channel is', async () => {
  const ds = await waitFor('the DaemonSet', () =>
    env.getOrUndefined<{ spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } }>(resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: SA })),
  );
  const vars = Object.fromEntries((ds.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
  assert.equal(vars.FLEET_ENDPOINT, `127.0.0.1:${fleetPort}`);
  assert.equal(vars.FLEET_CA_FILE, '/etc/ssm-node-agent-fleet-ca/ca.crt');
});

test('reports become status counts, agent versions and the Nodes’ annotations', async () => {
  const a = await connectAgent('node-a');
  const b = await connectAgent('node-b');
  a.update(healthy('3.3.1.0', 'mi-0000000000000000a'));
  b.update(healthy('3.3.2.0', 'mi-0000000000000000b'));
  const config = await waitFor('status from two agents', async () => {
    const c = await getConfig();
    return c?.status?.nodes?.registered === 2 ? c : undefined;
  });
  assert.equal(config.status?.nodes?.installed, 2);
  assert.equal(config.status?.nodes?.failing, 0);
  assert.deepEqual(config.status?.agentVersions, [
    { version: '3.3.1.0', count: 1 },
    { version: '3.3.2.0', count: 1 },
  ]);
  const node = await waitFor('node-a’s annotations', async () => {
    const n = await getNode('node-a');
    return n?.metadata.annotations?.['ssmagent.io/managed-instance-id'] ? n : undefined;
  });
  assert.equal(node.metadata.annotations?.['ssmagent.io/managed-instance-id'], 'mi-0000000000000000a');
  assert.equal(node.metadata.annotations?.['ssmagent.io/agent-version'], '3.3.1.0');
  assert.equal(node.metadata.labels?.['ssmagent.io/registered'], 'true');
  const metrics = await operator.metrics.registry.metrics();
  assert.match(metrics, /^ssm_operator_agents_connected 2$/m);
  assert.match(metrics, /^ssm_operator_nodes\{config="fleet-demo",state="registered"\} 2$/m);
});

test('a failing step shows in failingNodes with its reason; recovering clears it', async () => {
  const [a] = clients;
  assert.ok(a);
  a.update({ steps: [{ step: 'install', status: 'failed', reason: 'SignatureInvalid', message: 'the package signature does not verify' }] });
  const failing = await waitFor('node-a failing', async () => {
    const c = await getConfig();
    return c?.status?.nodes?.failing === 1 ? c : undefined;
  });
  assert.equal(failing.status?.failingNodes?.[0]?.node, 'node-a');
  assert.equal(failing.status?.failingNodes?.[0]?.reason, 'SignatureInvalid');
  a.update({ steps: [{ step: 'install', status: 'ok' }] });
  await waitFor('node-a recovered', async () => (await getConfig())?.status?.failingNodes?.length === 0);
});

test('a deleted Node drops out of the status', async () => {
  const r = await env.kubectl(['delete', 'node', 'node-b', '--wait=false']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('one registered node left', async () => (await getConfig())?.status?.nodes?.registered === 1);
});

test('after an operator restart the agents reconnect, resend their state, and status is rebuilt', async () => {
  const [a] = clients;
  assert.ok(a);
  await operator.stop();
  // A change while the operator is away is not lost: the agent resends its whole state when it reconnects.
  a.update(healthy('3.3.9.0', 'mi-0000000000000000a'));
  // What a user watching status sees across the restart: the counts the previous leader wrote stay until the
  // agents had their reconnect window, never a dip to 0 while the new leader's reports are still arriving.
  const seen: (number | undefined)[] = [];
  let watching = true;
  const watcher = (async () => {
    for (let i = 0; i < 1_200 && watching; i++) {
      seen.push((await getConfig())?.status?.nodes?.registered);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  ({ operator } = await startInProcessOperator(env, { FLEET_PORT: String(fleetPort) }));
  const config = await waitFor(
    'status rebuilt from the reconnected agent',
    async () => {
      const c = await getConfig();
      return c?.status?.agentVersions?.some((v) => v.version === '3.3.9.0') ? c : undefined;
    },
    60_000,
    200,
  );
  watching = false;
  await watcher;
  assert.equal(config.status?.nodes?.registered, 1, 'node-a only: node-b was deleted');
  assert.deepEqual([...new Set(seen)], [1], `status.nodes.registered across the restart, polled every 50 ms: ${seen.join(',')}`);
  assert.match(await operator.metrics.registry.metrics(), /^ssm_operator_agents_connected [12]$/m);
});
