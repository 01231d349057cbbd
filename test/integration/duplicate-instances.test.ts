// A host whose RegisterManagedInstance answer was lost registers again: SSM registered it the first time (a new mi-
// id) but the host never learnt that id, so it has no registration on disk and the next -register makes a second
// managed instance for the same host. The lost one is never pinged, never reported, never tagged with a node: the
// sweep must deregister it (and a host's older instance that lost its registration on disk, seen by the ComputerName
// its agent pinged with), and leave everything else alone: an instance registered moments ago whose node has not
// reported yet, an instance of another activation with look-alike tags, another config's instance.
// Real kube-apiserver, the operator in-process, the SSM emulator spoken to over the agent's wire protocol; the
// node agents are fake fleet clients reporting what a real one would (the registered mi- id).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP } from '../../operator/manifests/names.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { FleetClient } from '../../node-agent/fleet/client.ts';
import { newAgentKeys, ping, registerAnonymously, requestRoleToken } from '../harness/agent-wire.ts';
import { connectFakeAgent } from '../harness/fake-node-agent.ts';
import { startInProcessOperator, type InProcessOperator } from '../harness/in-process-operator.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { startSsmForOperator, type SsmForOperator } from '../harness/ssm-for-operator.ts';
import { waitFor } from '../harness/wait.ts';

const REGION = 'eu-west-1';
const CONFIG = 'hybrid';
const OTHER_CONFIG = 'other';
const HOUR = 3_600_000;
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const manifest = (name: string, nodeSelector: string) => `apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: ${name}}
spec:
  region: ${REGION}
  nodeSelector: {${nodeSelector}}
  registration:
    mode: Hybrid
    activation:
      managed: {iamRole: SSMServiceRole, registrationLimit: 20}
`;

let ssm: SsmForOperator;
let env: OperatorTestEnv;
let op: InProcessOperator;
let work: string;
const agents: FleetClient[] = [];

const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

async function activationOf(config: string): Promise<{ id: string; code: string }> {
  const secret = await waitFor(`the managed activation Secret of ${config}`, () =>
    env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name: `ssm-activation-${config}` })),
  60_000);
  return { id: decode(secret.data.activationId), code: decode(secret.data.activationCode) };
}

/** One -register attempt as the agent makes it; `lost`: SSM registers the instance, the answer never arrives. */
async function register(activation: { id: string; code: string }, fingerprint: string, lost = false): Promise<{ id: string | undefined; privateKey: string }> {
  const keys = newAgentKeys();
  if (lost) ssm.emulator.faults.failAfterNext(1, { operations: ['RegisterManagedInstance'] });
  const r = await registerAnonymously(ssm.emulator.url, { activationId: activation.id, activationCode: activation.code, publicKey: keys.publicKey, fingerprint });
  if (lost) {
    assert.equal(r.status, 500, 'the answer was lost');
    return { id: undefined, privateKey: keys.privateKey };
  }
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { id: r.body.InstanceId as string, privateKey: keys.privateKey };
}

/** The registered agent's health ping (it reports its hostname and address, as the real agent does). */
async function agentPings(instanceId: string, privateKey: string, fingerprint: string, computerName: string, ipAddress: string): Promise<void> {
  const token = await requestRoleToken(ssm.emulator.url, REGION, instanceId, privateKey, fingerprint);
  assert.equal(token.status, 200, JSON.stringify(token.body));
  const creds = { accessKeyId: token.body.AccessKeyId as string, secretAccessKey: token.body.SecretAccessKey as string, sessionToken: token.body.SessionToken as string };
  const r = await ping(ssm.emulator.url, REGION, creds, { InstanceId: instanceId, ComputerName: computerName, IPAddress: ipAddress, AgentVersion: '3.3.1142.0' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** The registrations SSM holds for a fingerprint (the emulator knows which host made each; the operator does not). */
const instancesOfHost = (fingerprint: string) => ssm.emulator.state.instances().filter((i) => i.fingerprint === fingerprint).map((i) => i.instanceId);

async function reportFrom(node: string, config: string, instanceId: string): Promise<void> {
  const ca = await waitFor('the fleet CA', () => env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP })));
  writeFileSync(join(work, 'ca.crt'), ca.data[FLEET_CA_KEY] ?? '');
  const agent = await connectFakeAgent({ client: env.client, namespace: NAMESPACE, node, config, fleetPort: op.fleetPort, caFile: join(work, 'ca.crt'), workDir: work, log: silent });
  agents.push(agent);
  agent.update({ steps: [{ step: 'register', status: 'ok' }], observation: { serviceActive: true, version: '3.3.1142.0', instanceId } });
}

const annotation = async (node: string) =>
  (await env.getOrUndefined<{ metadata: { annotations?: Record<string, string> } }>(resourcePath(RESOURCES.node, { name: node })))?.metadata.annotations?.['ssmagent.io/managed-instance-id'];
const sweeps = () => ssm.emulator.state.callsTo('DescribeInstanceInformation').length;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-duplicates-'));
  ssm = await startSsmForOperator(REGION);
  env = await startOperatorTestEnv({ controllerManager: false });
  for (const n of ['dup-1', 'dup-2', 'dup-3']) await env.createNode(n, { pool: 'hybrid' });
  await env.createNode('oth-1', { pool: 'other' });
  op = await startInProcessOperator(env, { ...ssm.settings, SSM_SYNC_INTERVAL_SECONDS: '1' });
  for (const [name, pool] of [[CONFIG, 'pool: hybrid'], [OTHER_CONFIG, 'pool: other']] as const) {
    const r = await env.kubectl(['apply', '-f', '-'], manifest(name, pool));
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  for (const a of agents) await a.stop();
  await op?.operator.stop();
  await env?.stop();
  await ssm?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a registration whose answer was lost is deregistered once the host runs another; nothing else is', async (t) => {
  const act = await activationOf(CONFIG);
  const other = await activationOf(OTHER_CONFIG);
  const clock = ssm.emulator.state.clock;

  // dup-1, two hours ago: the first -register's answer is lost, the retry (a new key pair) succeeds.
  clock.advance(-2 * HOUR);
  const lost = await register(act, 'fp-dup-1', true);
  const [lostId] = instancesOfHost('fp-dup-1');
  assert.ok(lostId, 'SSM registered the instance whose answer was lost');
  const good1 = await register(act, 'fp-dup-1');
  clock.reset();
  assert.ok(good1.id && lost.id === undefined);
  await agentPings(good1.id, good1.privateKey, 'fp-dup-1', 'dup-1', '10.0.0.1');

  // Left alone: dup-3 registered five minutes ago and its node agent has not reported yet (within the grace
  // period, though a host registered after it); an instance of another activation carrying this config's tags; the
  // other config's instance (its node reports nothing).
  clock.advance(-5 * 60_000);
  const fresh = await register(act, 'fp-dup-3');
  clock.reset();
  assert.ok(fresh.id);
  const foreignActivation = ssm.emulator.state.newActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate: new Date(Date.now() + 86_400_000), tags: ssm.emulator.state.activation(act.id)?.tags ?? [] });
  const lookAlike = ssm.emulator.state.addInstance({ activationId: foreignActivation.activationId, tags: foreignActivation.tags, registrationDate: new Date(Date.now() - 2 * HOUR) });
  ssm.emulator.state.setPingStatus(lookAlike.instanceId, 'ConnectionLost');
  clock.advance(-2 * HOUR);
  const otherConfigs = await register(other, 'fp-oth-1');
  clock.reset();
  assert.ok(otherConfigs.id);

  // dup-2: registered three hours ago and pinged; lost its registration on disk; registered again just now.
  clock.advance(-3 * HOUR);
  const old2 = await register(act, 'fp-dup-2');
  assert.ok(old2.id);
  await agentPings(old2.id, old2.privateKey, 'fp-dup-2', 'dup-2', '10.0.0.2');
  clock.reset();
  const good2 = await register(act, 'fp-dup-2');
  assert.ok(good2.id);
  await agentPings(good2.id, good2.privateKey, 'fp-dup-2', 'dup-2', '10.0.0.2');

  await reportFrom('dup-1', CONFIG, good1.id);
  await reportFrom('dup-2', CONFIG, good2.id);
  await waitFor('the Nodes annotated with their instances', async () => (await annotation('dup-1')) === good1.id && (await annotation('dup-2')) === good2.id, 60_000, 200);

  await waitFor('one managed instance per host in SSM', () => instancesOfHost('fp-dup-1').length === 1 && instancesOfHost('fp-dup-2').length === 1, 60_000, 200);
  const start = sweeps();
  await waitFor('a few more sweeps', () => sweeps() >= start + 6, 60_000, 200);
  assert.deepEqual(instancesOfHost('fp-dup-1'), [good1.id], 'dup-1 keeps the instance its Node’s annotation names');
  assert.deepEqual(instancesOfHost('fp-dup-2'), [good2.id], 'dup-2 keeps the instance its Node’s annotation names');
  assert.equal(await annotation('dup-1'), good1.id);
  assert.ok(ssm.emulator.state.instance(fresh.id), 'the instance registered moments ago is kept');
  assert.ok(ssm.emulator.state.instance(lookAlike.instanceId), 'another activation’s instance is kept');
  assert.ok(ssm.emulator.state.instance(otherConfigs.id), 'another config’s instance is kept');
  const deregistered = ssm.emulator.state.callsTo('DeregisterManagedInstance').filter((c) => c.status === 200).map((c) => c.input.InstanceId);
  assert.deepEqual([...deregistered].sort(), [lostId, old2.id].sort(), 'only the two duplicates were deregistered');

  const duplicates = [lostId, old2.id];
  await waitFor('an Event for each duplicate', async () => {
    const events = await env.client.get<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
    const dup = events.items.filter((e) => e.involvedObject.name === CONFIG && e.reason === 'InstanceDeregistered' && e.message.includes('DuplicateRegistration'));
    return duplicates.every((id) => dup.some((e) => e.message.includes(id))) || undefined;
  }, 30_000, 200);
  const metrics = await (await fetch(op.metricsUrl)).text();
  assert.match(metrics, /ssm_operator_instances_deregistered_total\{config="hybrid",reason="DuplicateRegistration"\} 2/);
  t.diagnostic(`kept ${good1.id} (dup-1) and ${good2.id} (dup-2); deregistered ${lostId} (answer lost) and ${old2.id} (older registration)`);
});
