// The whole product on real parts: the operator (real kube-apiserver) creates a managed activation in the SSM
// emulator; node agents on two real systemd hosts install the (stand-in) agent, which registers against the
// emulator with that activation; they report over the fleet channel; status shows the nodes registered and
// Online with their mi- ids on the Nodes; a deleted Node's managed instance is deregistered.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP } from '../../operator/manifests/names.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import { freePort } from '../harness/control-plane.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import type { ManagedProcess } from '../harness/managed-process.ts';
import { createNodeAgentFixture, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { createBoundPod, requestToken } from '../harness/node-agent-identity.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';
import type { SsmEmulator } from '../servers/ssm-emulator/index.ts';
import { startSsmForOperator, type SsmForOperator } from '../harness/ssm-for-operator.ts';
import { currentRevisionConfigMap } from '../harness/revision.ts';

const CONFIG = 'e2e';
const VERSION = '3.3.300.0';
const NODES = ['e2e-1', 'e2e-2'];
let env: OperatorTestEnv;
let emulator: SsmEmulator;
let fixture: NodeAgentFixture;
let operator: Operator;
const hosts: SystemdHost[] = [];
const agents: ManagedProcess[] = [];
let ssm: SsmForOperator;

const getConfig = () => env.getOrUndefined<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }));
const secretPath = (name: string) => resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name });
type Node = { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };

before(async () => {
  ssm = await startSsmForOperator('eu-west-1');
  emulator = ssm.emulator;
  fixture = await createNodeAgentFixture({ versions: [VERSION], tempPrefix: 'ssm-fleet-e2e-' });
  env = await startOperatorTestEnv({ controllerManager: false });
  for (const node of NODES) await env.createNode(node, { pool: 'e2e' });
  let fleetPort: number;
  ({ operator, fleetPort } = await startInProcessOperator(env, { ...ssm.settings, CLUSTER_NAME: 'e2e-cluster', SSM_SYNC_INTERVAL_SECONDS: '1' }));
  const r = await env.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: ${CONFIG}}
spec:
  region: eu-west-1
  nodeSelector: {pool: e2e}
  agent: {version: ${VERSION}, sha256: ${fixture.sha256(VERSION)}, source: {mirror: "${fixture.mirrorUrl}"}}
  registration:
    mode: Hybrid
    activation: {managed: {iamRole: SSMServiceRole, registrationLimit: 5}}
`,
  );
  assert.equal(r.code, 0, r.stderr);

  // What the kubelet would mount into each node-agent pod: the rendered config, the activation Secret, the CA.
  const secret = await waitFor('the activation Secret', () => env.getOrUndefined<{ data: Record<string, string> }>(secretPath(`ssm-activation-${CONFIG}`)), 60_000);
  const activationDir = join(fixture.work, 'activation-e2e');
  mkdirSync(activationDir);
  for (const key of ['activationId', 'activationCode']) writeFileSync(join(activationDir, key), Buffer.from(secret.data[key] ?? '', 'base64'));
  const cm = await waitFor('the node-agent revision ConfigMap', () => currentRevisionConfigMap(env, NAMESPACE, CONFIG));
  const rendered = JSON.parse(cm.data['config.json'] ?? '{}') as { registration: Record<string, unknown> };
  const configFile = join(fixture.work, 'e2e-config.json');
  writeFileSync(configFile, JSON.stringify({ ...rendered, registration: { ...rendered.registration, activationDir } }));
  const ca = await waitFor('the fleet CA', () => env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP })));
  const caFile = join(fixture.work, 'fleet-ca.crt');
  writeFileSync(caFile, ca.data[FLEET_CA_KEY] ?? '');

  for (const node of NODES) {
    const host = await startSystemdHost();
    hosts.push(host);
    // Test-only: where the stand-in agent finds the SSM emulator (the real agent would use Ssm.Endpoint).
    await host.host.writeFileAtomic('/etc/amazon/ssm/stand-in-ssm-endpoint', emulator.url, 0o644);
    const uid = await createBoundPod(env.client, NAMESPACE, `agent-${node}`, node, `ssm-node-agent-${CONFIG}`);
    const tokenFile = join(fixture.work, `${node}.token`);
    writeFileSync(tokenFile, await requestToken(env.client, NAMESPACE, `ssm-node-agent-${CONFIG}`, { name: `agent-${node}`, uid }));
    agents.push(
      fixture.startNodeAgent({
        name: `node-agent-${node}`,
        logPath: join(fixture.work, `${node}.log`),
        hostPid: host.pid,
        configFile,
        metricsPort: await freePort(),
        passIntervalSeconds: 3600,
        nodeName: node,
        extraEnv: { FLEET_ENDPOINT: `127.0.0.1:${fleetPort}`, FLEET_CA_FILE: caFile, FLEET_TOKEN_FILE: tokenFile, FLEET_HEARTBEAT_SECONDS: '5' },
      }),
    );
  }
});

after(async () => {
  await Promise.all(agents.map((a) => a.stop(10_000)));
  await Promise.all(hosts.map((h) => h.stop()));
  await operator?.stop();
  await env?.stop();
  await ssm?.stop();
  await fixture?.close();
});

test('both hosts register with the managed activation and show up in status and on their Nodes', async () => {
  const config = await waitFor(
    'two registered nodes in status',
    async () => {
      const c = await getConfig();
      return c?.status?.nodes?.registered === 2 ? c : undefined;
    },
    120_000,
    500,
  );
  assert.equal(config.status?.nodes?.installed, 2);
  assert.deepEqual(config.status?.agentVersions, [{ version: VERSION, count: 2 }]);
  const instances = emulator.state.instances().filter((i) => i.resourceType === 'ManagedInstance');
  assert.equal(instances.length, 2, 'exactly one managed instance per host');
  const [activation] = emulator.state.activations();
  assert.equal(instances.every((i) => i.activationId === activation?.activationId), true, 'registered with the operator’s activation');
  for (const node of NODES) {
    const n = await waitFor(`${node}’s annotation`, async () => {
      const got = await env.getOrUndefined<Node>(resourcePath(RESOURCES.node, { name: node }));
      return got?.metadata.annotations?.['ssmagent.io/managed-instance-id'] ? got : undefined;
    });
    const id = n.metadata.annotations?.['ssmagent.io/managed-instance-id'];
    assert.ok(instances.some((i) => i.instanceId === id), `${node}’s mi- id is a real instance in SSM`);
    assert.equal(n.metadata.labels?.['ssmagent.io/registered'], 'true');
  }
});

test('instances SSM sees Online are counted, and they are tagged with their node', async () => {
  // Online comes from the agents' own pings (UpdateInstanceInformation signed with their role credentials), as in SSM.
  await waitFor('both agents to ping', () => emulator.state.instances().every((i) => emulator.state.pingStatus(i) === 'Online'), 120_000, 500);
  const pinged = new Set(emulator.state.callsTo('UpdateInstanceInformation').filter((c) => c.code === 'OK').map((c) => String(c.input.InstanceId)));
  assert.equal(pinged.size, 2, 'each instance pinged for itself');
  await waitFor('two online nodes', async () => (await getConfig())?.status?.nodes?.online === 2, 60_000, 500);
  // The count is SSM's view, not the node agents': an instance SSM has lost drops out.
  const [first] = emulator.state.instances();
  assert.ok(first);
  emulator.state.setPingStatus(first.instanceId, 'ConnectionLost');
  await waitFor('one online node', async () => (await getConfig())?.status?.nodes?.online === 1, 60_000, 500);
  emulator.state.setPingStatus(first.instanceId, undefined);
  await waitFor('two online nodes again', async () => (await getConfig())?.status?.nodes?.online === 2, 60_000, 500);
  await waitFor('node tags on both instances', () =>
    emulator.state.instances().every((i) => NODES.includes(emulator.state.tags('ManagedInstance', i.instanceId)?.['ssmagent.io/node'] ?? '')),
  );
});

test('a deleted Node’s managed instance is deregistered', async () => {
  const node = await env.getOrUndefined<Node>(resourcePath(RESOURCES.node, { name: 'e2e-2' }));
  const id = node?.metadata.annotations?.['ssmagent.io/managed-instance-id'];
  assert.ok(id);
  const r = await env.kubectl(['delete', 'node', 'e2e-2', '--wait=false']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('the instance to be deregistered', () => emulator.state.instance(id) === undefined, 60_000, 500);
  assert.equal(emulator.state.instances().length, 1, 'the other host stays registered');
  await waitFor('an Event about it', async () => {
    const events = await env.client.get<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
    return events.items.some((e) => e.involvedObject.name === CONFIG && e.reason === 'InstanceDeregistered' && e.message.includes(id));
  });
});
