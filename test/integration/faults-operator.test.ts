// Faults around the operator, with real parts: a real kube-apiserver, the operator as a real process (SIGKILLed at
// exactly the wrong moment, paused there by a hold in the SSM emulator), and the emulator speaking SSM's wire
// protocol, throttling as SSM does (HTTP 400, ThrottlingException). Each case asserts what a user relies on: no
// activation leaked or lost, the Secret's code works, only what should be deregistered is, exactly once.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { ANNOTATION_ACTIVATION_IDS } from '../../operator/activations/history.ts';
import { startOperatorProcess, type OperatorProcess } from '../harness/operator-process.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { waitFor } from '../harness/wait.ts';
import { startSsmEmulator, type Hold, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

const REGION = 'eu-west-1';
const CLUSTER = 'faults-cluster';

let env: OperatorTestEnv;
let emulator: SsmEmulator;
let work: string;
let operator: OperatorProcess | undefined;

interface Secret {
  data?: Record<string, string>;
}
const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
const secretPath = (config: string) => resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name: `ssm-activation-${config}` });
const configPath = (config: string) => resourcePath(RESOURCES.ssmAgentConfig, { name: config });
const activationsOf = (config: string) => emulator.state.activations().filter((a) => a.defaultInstanceName === config);

async function startOperator(name: string, kubeconfigPath = env.cp.kubeconfigPath): Promise<OperatorProcess> {
  operator = await startOperatorProcess({
    kubeconfigPath,
    logPath: join(work, `${name}.log`),
    name,
    env: {
      SSM_ENDPOINT: emulator.url,
      AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
      AWS_REGION: REGION,
      CLUSTER_NAME: CLUSTER,
      FLEET_PORT: '0',
      SSM_SYNC_INTERVAL_SECONDS: '2',
    },
  });
  return operator;
}

/** What a container runtime does to a killed pod: SIGKILL to the whole process, nothing gets to run after it. */
async function sigkill(op: OperatorProcess): Promise<void> {
  try {
    process.kill(-op.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  const status = await op.proc.exited;
  assert.equal(status.signal, 'SIGKILL', `${op.name} was killed`);
  if (operator === op) operator = undefined;
}

/** Resolves once the hold has a call; fails at once if the operator exits first, and after `ms`. */
async function heldWithin(hold: Hold, op: OperatorProcess, ms: number, what: string): Promise<void> {
  let reached = false;
  void hold.reached.then(() => (reached = true));
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000 && !reached; i++) {
    op.assertRunning();
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; log tail:\n${op.logTail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopOperator(): Promise<void> {
  await operator?.stop(15_000);
  operator = undefined;
}

async function applyManaged(config: string, pool: string): Promise<void> {
  const r = await env.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: ${config}}
spec:
  region: ${REGION}
  nodeSelector: {pool: ${pool}}
  registration:
    mode: Hybrid
    activation:
      managed: {iamRole: SSMServiceRole, registrationLimit: 10, expirationDays: 30}
`,
  );
  assert.equal(r.code, 0, r.stderr);
}

/** Deletes the config with the operator running (its finalizer deletes the managed activation). */
async function deleteConfig(config: string): Promise<void> {
  const r = await env.kubectl(['delete', 'sac', config, '--timeout=60s']);
  assert.equal(r.code, 0, r.stderr);
}

/** A host's `-register` call, as the agent sends it (anonymous): proves the code works. */
async function registerWith(activationId: string, activationCode: string): Promise<{ status: number; body: { InstanceId?: string; __type?: string } }> {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const body = JSON.stringify({
    ActivationCode: activationCode,
    ActivationId: activationId,
    PublicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    PublicKeyType: 'Rsa',
    Fingerprint: `faults-test-${activationId.slice(0, 8)}`,
  });
  const res = await fetch(emulator.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.RegisterManagedInstance' },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as { InstanceId?: string; __type?: string } };
}

/** The Secret names exactly the one activation SSM holds for the config, and its code registers a host. */
async function assertOneWorkingActivation(t: TestContext, config: string): Promise<string> {
  const secret = await env.getOrUndefined<Secret>(secretPath(config));
  const id = decode(secret?.data?.activationId);
  const code = decode(secret?.data?.activationCode);
  assert.deepEqual(activationsOf(config).map((a) => a.activationId), [id], 'SSM holds exactly the activation the Secret names');
  const reg = await registerWith(id, code);
  assert.equal(reg.status, 200, `the Secret's code registers a host: ${JSON.stringify(reg.body)}`);
  assert.match(reg.body.InstanceId ?? '', /^mi-/);
  t.diagnostic(`activation ${id}: one in SSM, its code registered ${reg.body.InstanceId ?? ''}`);
  return id;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-faults-operator-'));
  emulator = await startSsmEmulator({ region: REGION });
  env = await startOperatorTestEnv({ controllerManager: false });
  await env.createNode('hybrid-1', { pool: 'hybrid' });
});

after(async () => {
  emulator?.faults.clear();
  await operator?.stop(10_000).catch(() => undefined);
  await env?.stop();
  await emulator?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('SIGKILL between CreateActivation and the Secret write', () => {
  const CONFIG = 'crash-create';

  test('after a restart SSM holds exactly the activation the Secret names, and its code works', async (t) => {
    const first = await startOperator('operator-crash-create');
    // SSM creates the activation; its answer (the only copy of the code) is held until the process is dead.
    const hold = emulator.faults.hold('CreateActivation', 'after');
    await applyManaged(CONFIG, 'hybrid');
    await heldWithin(hold, first, 60_000, 'CreateActivation to be held');
    assert.equal(activationsOf(CONFIG).length, 1, 'SSM made the activation');
    await sigkill(first);
    hold.release();
    assert.equal(await env.getOrUndefined<Secret>(secretPath(CONFIG)), undefined, 'nothing was written after CreateActivation');

    await startOperator('operator-crash-create-restarted');
    await waitFor('the Secret, and one activation in SSM', async () => {
      const s = await env.getOrUndefined<Secret>(secretPath(CONFIG));
      return s?.data?.activationId !== undefined && activationsOf(CONFIG).length === 1 ? true : undefined;
    }, 60_000, 250);
    const id = await assertOneWorkingActivation(t, CONFIG);
    // A few more passes change nothing: nothing else is created or deleted.
    const creates = emulator.state.callsTo('CreateActivation').length;
    await waitFor('more SSM passes', () => emulator.state.callsTo('DescribeActivations').length >= 6 || undefined, 30_000, 250);
    assert.equal(emulator.state.callsTo('CreateActivation').length, creates, 'no further CreateActivation');
    assert.deepEqual(activationsOf(CONFIG).map((a) => a.activationId), [id]);
    const config = await env.getOrUndefined<SsmAgentConfig>(configPath(CONFIG));
    assert.ok(config?.metadata.annotations?.[ANNOTATION_ACTIVATION_IDS]?.includes(id), 'the live activation is recorded as the config’s');
    await deleteConfig(CONFIG);
    assert.deepEqual(activationsOf(CONFIG), [], 'the config took its activation with it');
    await stopOperator();
  });
});
