// The operator with a managed activation, end to end: it creates the activation in Systems Manager (the test
// emulator, over the real SDK and wire protocol), keeps it in the Secret the node agents mount, reports it in
// status with ActivationReady, and deletes it with the config.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';
import { startInProcessOperator } from '../harness/in-process-operator.ts';
import type { Operator } from '../../operator/manager/manager.ts';
import type { SsmEmulator } from '../servers/ssm-emulator/index.ts';
import { startSsmForOperator, type SsmForOperator } from '../harness/ssm-for-operator.ts';

const CONFIG = 'hybrid-managed';
let env: OperatorTestEnv;
let emulator: SsmEmulator;
let operator: Operator;
let ssm: SsmForOperator;

const getConfig = () => env.getOrUndefined<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }));

before(async () => {
  ssm = await startSsmForOperator('eu-west-1');
  emulator = ssm.emulator;
  env = await startOperatorTestEnv({ controllerManager: false });
  await env.createNode('hybrid-1', { pool: 'hybrid' });
  ({ operator } = await startInProcessOperator(env, { FLEET_PORT: '0', CLUSTER_NAME: 'test-cluster', ...ssm.settings }));
});

after(async () => {
  await operator?.stop();
  await env?.stop();
  await ssm?.stop();
});

test('a managed activation is created, stored in the Secret the DaemonSet mounts, and reported in status', async () => {
  const r = await env.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: ${CONFIG}}
spec:
  region: eu-west-1
  nodeSelector: {pool: hybrid}
  registration:
    mode: Hybrid
    activation:
      managed: {iamRole: SSMServiceRole, registrationLimit: 10, expirationDays: 30, tags: {team: platform}}
`,
  );
  assert.equal(r.code, 0, r.stderr);
  const config = await waitFor(
    'ActivationReady=True',
    async () => {
      const c = await getConfig();
      return c?.status?.conditions?.find((x) => x.type === 'ActivationReady')?.status === 'True' ? c : undefined;
    },
    60_000,
  );
  const [activation] = emulator.state.activations();
  assert.ok(activation, 'one activation exists in SSM');
  assert.equal(emulator.state.activations().length, 1);
  assert.equal(activation.iamRole, 'SSMServiceRole');
  assert.equal(activation.registrationLimit, 10);
  const tags = Object.fromEntries(activation.tags.map((t) => [t.Key, t.Value]));
  assert.equal(tags['ssmagent.io/config'], CONFIG);
  assert.equal(tags['ssmagent.io/cluster'], 'test-cluster');
  assert.equal(tags.team, 'platform');
  assert.equal(config.status?.activation?.id, activation.activationId);
  assert.equal(config.status?.activation?.registrationLimit, 10);

  const secret = await env.getOrUndefined<{ data: Record<string, string> }>(resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name: `ssm-activation-${CONFIG}` }));
  assert.equal(Buffer.from(secret?.data.activationId ?? '', 'base64').toString(), activation.activationId);
  assert.equal(Buffer.from(secret?.data.activationCode ?? '', 'base64').toString(), activation.activationCode);
  const metrics = await operator.metrics.registry.metrics();
  assert.match(metrics, /^ssm_operator_ssm_api_requests_total\{operation="CreateActivation",code="OK"\} 1$/m);
  const value = (name: string) => Number(new RegExp(`^${name}\\{config="${CONFIG}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.ok(Math.abs(value('ssm_operator_activation_expiry_timestamp_seconds') - activation.expirationDate.getTime() / 1000) < 2, 'the expiry metric is the activation’s');
  assert.equal(value('ssm_operator_activation_registrations_limit'), 10);
  assert.equal(value('ssm_operator_activation_registrations_used'), 0);
});

test('deleting the config deletes its managed activation', async () => {
  const r = await env.kubectl(['delete', 'sac', CONFIG, '--timeout=60s']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(emulator.state.activations().length, 0);
});
