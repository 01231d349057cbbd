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
import { startSlowApiProxy, type SlowApiProxy } from '../harness/slow-api-proxy.ts';

const REGION = 'eu-west-1';
const CLUSTER = 'faults-cluster';

let env: OperatorTestEnv;
let emulator: SsmEmulator;
let work: string;
let operator: OperatorProcess | undefined;
let proxy: SlowApiProxy | undefined;

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
    // the machine is shared: start-up is slow under load
    readyTimeoutMs: 90_000,
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
  await proxy?.stop();
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
    }, 120_000, 250);
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

/** Waits for the config's managed activation to be in the Secret and recorded on the config; returns its id. */
async function liveActivation(config: string): Promise<string> {
  return waitFor(`${config}'s activation in its Secret and on the config`, async () => {
    const id = decode((await env.getOrUndefined<Secret>(secretPath(config)))?.data?.activationId);
    const c = await env.getOrUndefined<SsmAgentConfig>(configPath(config));
    return id && c?.metadata.annotations?.[ANNOTATION_ACTIVATION_IDS]?.includes(id) ? id : undefined;
  }, 60_000, 250);
}

const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
const ours = (config: string, node: string) => tagList({ 'ssmagent.io/cluster': CLUSTER, 'ssmagent.io/config': config, 'ssmagent.io/node': node });
const deregistrationsOf = (id: string) => emulator.state.callsTo('DeregisterManagedInstance').filter((c) => c.input.InstanceId === id);

describe('SIGKILL during a deregistration', () => {
  const CONFIG = 'crash-dereg';

  test('after a restart each gone node’s instance is deregistered exactly once, and nothing else is', async (t) => {
    await env.createNode('dereg-live', { pool: 'dereg' });
    const first = await startOperator('operator-crash-dereg');
    await applyManaged(CONFIG, 'dereg');
    const activationId = await liveActivation(CONFIG);
    // The first deregistration is done by SSM, and its answer held until the operator is dead.
    const hold = emulator.faults.hold('DeregisterManagedInstance', 'after');
    const seed = (node: string, tags = ours(CONFIG, node), activation = activationId) =>
      emulator.state.addInstance({ activationId: activation, iamRole: 'SSMServiceRole', tags }).instanceId;
    const gone = [seed('dereg-gone-1'), seed('dereg-gone-2')];
    const live = seed('dereg-live');
    const otherCluster = seed('dereg-gone-3', tagList({ 'ssmagent.io/cluster': 'another-cluster', 'ssmagent.io/config': CONFIG, 'ssmagent.io/node': 'dereg-gone-3' }));
    const notOurActivation = seed('dereg-gone-4', ours(CONFIG, 'dereg-gone-4'), '99999999-8888-4777-8666-555555555555');
    await heldWithin(hold, first, 60_000, 'a DeregisterManagedInstance to be held');
    await sigkill(first);
    hold.release();
    const done = gone.filter((id) => !emulator.state.instanceMap.has(id));
    assert.equal(done.length, 1, 'SSM deregistered one instance before the operator died');

    await startOperator('operator-crash-dereg-restarted');
    await waitFor('both gone nodes’ instances deregistered', () => gone.every((id) => !emulator.state.instanceMap.has(id)) || undefined, 60_000, 250);
    // A few more sweeps: nothing more happens.
    const lists = emulator.state.callsTo('DescribeInstanceInformation').length;
    await waitFor('three more sweeps', () => emulator.state.callsTo('DescribeInstanceInformation').length >= lists + 3 || undefined, 30_000, 250);
    for (const id of gone) assert.equal(deregistrationsOf(id).length, 1, `${id} deregistered exactly once`);
    assert.equal(emulator.state.callsTo('DeregisterManagedInstance').length, 2, 'no other deregistration was even tried');
    for (const id of [live, otherCluster, notOurActivation]) assert.ok(emulator.state.instanceMap.has(id), `${id} is still registered`);
    t.diagnostic(`deregistered ${gone.join(', ')} once each; kept ${[live, otherCluster, notOurActivation].join(', ')}`);
    await deleteConfig(CONFIG);
    await stopOperator();
  });
});

describe('SSM throttles every call for a long stretch', () => {
  const CONFIG = 'throttled';
  const THROTTLE_MS = 60_000;

  test('the operator backs off, stays up, acts wrongly on nothing, and recovers when throttling ends', async (t) => {
    await env.createNode('throttled-live', { pool: 'throttled' });
    // The production-like cadence (the SSM sync every 30 s) over which the backoff is capped.
    const op = await startOperatorProcess({
      kubeconfigPath: env.cp.kubeconfigPath,
      logPath: join(work, 'operator-throttled.log'),
      name: 'operator-throttled',
      readyTimeoutMs: 90_000,
      env: {
        SSM_ENDPOINT: emulator.url,
        AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
        AWS_REGION: REGION,
        CLUSTER_NAME: CLUSTER,
        FLEET_PORT: '0',
        SSM_SYNC_INTERVAL_SECONDS: '30',
      },
    });
    operator = op;
    await applyManaged(CONFIG, 'throttled');
    const before = await liveActivation(CONFIG);
    const live = emulator.state.addInstance({ activationId: before, iamRole: 'SSMServiceRole', tags: ours(CONFIG, 'throttled-live') }).instanceId;
    // The activation is deleted behind the operator's back: the pass after the throttling must make one, not more.
    emulator.state.activationMap.delete(before);
    emulator.faults.throttleNext(1_000_000_000);
    emulator.state.clearCalls();
    const start = Date.now();
    // A change to the config pokes the SSM loop at once: into the throttling.
    const r = await env.kubectl(['annotate', 'sac', CONFIG, 'test/poke=1', '--overwrite']);
    assert.equal(r.code, 0, r.stderr);
    const samples: number[] = [];
    for (let i = 0; i < 200 && Date.now() - start < THROTTLE_MS; i++) {
      await new Promise((res) => setTimeout(res, 5_000));
      op.assertRunning();
      samples.push(emulator.state.calls().length);
    }
    const throttled = emulator.state.calls();
    emulator.faults.clear();
    t.diagnostic(`calls while throttled (${THROTTLE_MS / 1000} s): ${throttled.length}, by 5 s: ${samples.join(' ')}`);
    assert.ok(throttled.every((c) => c.code === 'ThrottlingException'), 'every call was throttled');
    assert.ok(throttled.length > 0, 'the operator kept trying');
    // Unbounded retrying (a tight loop, or 5 SDK attempts on every 1 s tick) would be hundreds of calls a minute.
    assert.ok(throttled.length <= 60, `${throttled.length} calls in ${THROTTLE_MS / 1000} s of throttling: the operator backs off`);
    assert.equal(emulator.state.callsTo('CreateActivation').filter((c) => c.code === 'OK').length, 0);
    const healthz = await fetch(`${op.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(healthz.status, 200, 'the operator is alive');

    const after = await waitFor('a new activation once throttling ended', async () => {
      const id = decode((await env.getOrUndefined<Secret>(secretPath(CONFIG)))?.data?.activationId);
      return id && id !== before && emulator.state.activation(id) ? id : undefined;
    }, 60_000, 250);
    t.diagnostic(`recovered ${Math.round((Date.now() - start - THROTTLE_MS) / 1000)} s after the throttling ended`);
    assert.equal(await assertOneWorkingActivation(t, CONFIG), after);
    assert.equal(emulator.state.callsTo('CreateActivation').filter((c) => c.code === 'OK').length, 1, 'exactly one activation created');
    assert.equal(emulator.state.callsTo('DeregisterManagedInstance').length, 0, 'nothing deregistered');
    assert.ok(emulator.state.instanceMap.has(live));
    assert.equal(op.proc.exitStatus(), undefined, 'never restarted');
    await deleteConfig(CONFIG);
    await stopOperator();
  });
});

describe('a Secret write that timed out but succeeded', () => {
  const CONFIG = 'slow-secret';
  /** longer than the operator's API client timeout (30 s) */
  const DELAY_MS = 33_000;

  test('the live activation the Secret names is never deleted', async (t) => {
    proxy = await startSlowApiProxy({ server: env.cp.server, caPem: env.cp.caPem, token: env.cp.adminToken, kubeconfigPath: join(work, 'slow.kubeconfig') });
    await env.createNode('slow-1', { pool: 'slow' });
    const op = await startOperator('operator-slow-secret', proxy.kubeconfigPath);
    const secretUrl = `/api/v1/namespaces/${NAMESPACE}/secrets/ssm-activation-${CONFIG}`;
    // The Secret's write reaches the API server; its answer, and the reads of the Secret right after (the re-read that
    // checks whether it landed), come only after the client gave up.
    let patchedAt = 0;
    const disarm = proxy.slow({
      match: (method, path) => {
        if (path !== secretUrl) return false;
        if (method === 'PATCH') {
          patchedAt ||= Date.now();
          return true;
        }
        return method === 'GET' && patchedAt > 0 && Date.now() - patchedAt < DELAY_MS;
      },
      delayMs: DELAY_MS,
    });
    emulator.state.clearCalls();
    await applyManaged(CONFIG, 'slow');
    const written = await waitFor('the Secret written through the slow path', async () => {
      const id = decode((await env.getOrUndefined<Secret>(secretPath(CONFIG)))?.data?.activationId);
      return id || undefined;
    }, 60_000, 250);
    await waitFor('the slowed write to reach the API server', () => proxy?.slowed.some((s) => s.method === 'PATCH') || undefined, 60_000, 250);
    // While the answers are slow, and a while after: the activation the Secret names stays.
    for (let i = 0; i < 8; i++) {
      assert.ok(emulator.state.activation(written), `the activation the Secret names exists (${i * 5} s)`);
      await new Promise((res) => setTimeout(res, 5_000));
      op.assertRunning();
    }
    disarm();
    await waitFor('a few passes on the normal path', () => emulator.state.callsTo('DescribeActivations').length >= 8 || undefined, 60_000, 250);
    t.diagnostic(`slowed: ${proxy.slowed.map((s) => `${s.method} ${s.status}`).join(', ')}`);
    assert.ok(proxy.slowed.some((s) => s.method === 'PATCH' && s.status >= 200 && s.status < 300), 'the slowed write succeeded at the API server');
    assert.match(op.logTail(400), /aborted|timeout/i, 'the operator saw its write time out');
    const deletes = emulator.state.callsTo('DeleteActivation');
    const why = op.logTail(400).split('\n').filter((l) => /activation/i.test(l) && /warn|error|"level":[45]0/.test(l)).slice(-5).join('\n');
    assert.equal(deletes.length, 0, `no activation was deleted (deleted: ${deletes.map((c) => String(c.input.ActivationId)).join(', ')}; the Secret named ${written}); log:\n${why}`);
    assert.equal(await assertOneWorkingActivation(t, CONFIG), written);
    await deleteConfig(CONFIG);
    await stopOperator();
  });
});
