// deletionPolicy Uninstall end to end on the operator side: deleting the config tells the node agents to remove
// the agent, and the config goes only when every selected node has confirmed it over the fleet channel.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { ANNOTATION_UNINSTALL_STARTED } from '../../operator/controllers/host-uninstall.ts';
import { FLEET_CA_KEY } from '../../operator/api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP } from '../../operator/manifests/names.ts';
import type { KubeList } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { FleetClient } from '../../node-agent/fleet/client.ts';
import { connectFakeAgent } from '../harness/fake-node-agent.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';
import { currentRevisionConfigMap } from '../harness/revision.ts';

const CONFIG = 'uninstall-demo';
let env: OperatorTestEnv;
let operator: Operator;
let agent: FleetClient;
let work: string;
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const getConfig = () => env.getOrUndefined<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }));
const renderedConfig = async () =>
  (await currentRevisionConfigMap(env, NAMESPACE, CONFIG))?.data['config.json'] ?? '';

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-fleet-uninstall-'));
  env = await startOperatorTestEnv({ controllerManager: false });
  await env.createNode('u-1', { pool: 'u' });
  const started = await startInProcessOperator(env);
  operator = started.operator;
  const fleetPort = started.fleetPort;
  const r = await env.kubectl(['apply', '-f', '-'], `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${CONFIG}}\nspec: {region: us-east-1, nodeSelector: {pool: u}, deletionPolicy: Uninstall}\n`);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('the DaemonSet', () => env.getOrUndefined(resourcePath(RESOURCES.daemonSet, { namespace: NAMESPACE, name: `ssm-node-agent-${CONFIG}` })));
  const ca = await waitFor('the fleet CA', () => env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.configMap, { namespace: NAMESPACE, name: FLEET_CA_CONFIGMAP })));
  writeFileSync(join(work, 'ca.crt'), ca.data[FLEET_CA_KEY] ?? '');
  agent = await connectFakeAgent({ client: env.client, namespace: NAMESPACE, node: 'u-1', config: CONFIG, fleetPort, caFile: join(work, 'ca.crt'), workDir: work, log: silent });
  agent.update({ steps: [{ step: 'install', status: 'ok' }], observation: { serviceActive: true, version: '3.3.1.0', instanceId: 'mi-0000000000000000c' } });
  await waitFor('the agent’s report in status', async () => (await getConfig())?.status?.nodes?.installed === 1);
});

after(async () => {
  await agent?.stop();
  await operator?.stop();
  await env?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('deleting the config asks the node agents to uninstall and waits for their confirmation', async () => {
  const r = await env.kubectl(['delete', 'sac', CONFIG, '--wait=false']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('the node agents to be told to uninstall', async () => /"action": "Uninstall"/.test(await renderedConfig()));
  // The start is recorded on the config right after the node agents are told (in that order: a failure in between
  // tells them again).
  const waiting = await waitFor('the uninstall start on the config', async () => {
    const c = await getConfig();
    return c?.metadata.annotations?.[ANNOTATION_UNINSTALL_STARTED] ? c : undefined;
  });
  assert.ok(waiting, 'the config waits for the hosts');
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.ok(await getConfig(), 'still waiting: the node has not confirmed');

  agent.update({ steps: [{ step: 'detect', status: 'ok' }, { step: 'uninstall', status: 'changed' }], observation: { serviceActive: false } });
  await waitFor('the config to go', async () => (await getConfig()) === undefined, 60_000, 200);
  const events = await env.client.get<KubeList<{ reason: string; involvedObject: { name: string } }>>('/api/v1/namespaces/default/events');
  const reasons = events.items.filter((e) => e.involvedObject.name === CONFIG).map((e) => e.reason);
  assert.ok(reasons.includes('Uninstalling'));
  assert.ok(reasons.includes('Uninstalled'));
});
