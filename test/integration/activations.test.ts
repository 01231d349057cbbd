// The activation and managed-instance steps against the SSM emulator (the real @aws-sdk/client-ssm over HTTP) and a
// real kube-apiserver: the managed activation and its Secret are created, rotated before expiry (new one first, old
// one deleted only once the pending registrations moved), throttling is absorbed, a user's activation is only
// checked, and the instance sweep deregisters only what belonged to a deleted node.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSsmApi, type SsmApi } from '../../operator/aws/index.ts';
import { DAY_MS } from '../../operator/activations/plan.ts';
import { reconcileActivation } from '../../operator/activations/step.ts';
import { ANNOTATION_PREVIOUS_ACTIVATIONS } from '../../operator/manifests/secrets.ts';
import { ANNOTATION_ACTIVATION_IDS, ANNOTATION_ACTIVATION_INTENT, intentValue } from '../../operator/activations/history.ts';
import { reconcileInstances } from '../../operator/instances/step.ts';
import type { SsmAgentConfig } from '../../operator/api/types.ts';
import { parseSpec } from '../../operator/api/validate.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { SSM_SYNC_CONTROLLER, SsmSyncReconciler } from '../../operator/controllers/ssm-sync/reconciler.ts';
import { validateConfig } from '../../operator/controllers/validated-config.ts';
import { Controller } from '../../operator/runtime/controller.ts';
import { createOperatorMetrics } from '../../operator/observability/metrics.ts';
import { pino } from 'pino';
import { waitFor } from '../harness/wait.ts';
import { NAMESPACE, startOperatorTestEnv, type OperatorTestEnv } from '../harness/operator-env.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

const CLUSTER = 'test-cluster';
const CONFIG = 'hybrid-demo';
const USER_CONFIG = 'hybrid-user';
const SECRET = `ssm-activation-${CONFIG}`;

interface Secret {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { kind: string; name: string; uid: string }[]; resourceVersion?: string };
  data: Record<string, string>;
}

let env: OperatorTestEnv;
let emulator: SsmEmulator;
let ssm: SsmApi;

const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
const now = () => emulator.clock.now();
const getSecret = (name: string) => env.getOrUndefined<Secret>(resourcePath(RESOURCES.secret, { namespace: NAMESPACE, name }));

async function getConfig(name: string): Promise<SsmAgentConfig> {
  const c = await env.client.get<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name }));
  const parsed = parseSpec(c.spec);
  assert.ok(parsed.ok);
  return { ...c, spec: parsed.spec };
}

async function apply(yaml: string): Promise<void> {
  const r = await env.kubectl(['apply', '-f', '-'], yaml);
  assert.equal(r.code, 0, r.stderr);
}

const step = async (agentsStillOnOld: number, name = CONFIG) =>
  reconcileActivation({ client: env.client, ssm, namespace: NAMESPACE, clusterName: CLUSTER, config: await getConfig(name), agentsStillOnOld, now });

before(async () => {
  env = await startOperatorTestEnv();
  emulator = await startSsmEmulator({ region: 'eu-west-1' });
  ssm = createSsmApi({ region: emulator.region, endpoint: emulator.url, credentials: { kind: 'static', ...emulator.credentials }, maxAttempts: 5 });
  await apply(
    `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${CONFIG}}\nspec:\n  region: eu-west-1\n  nodeSelector: {pool: hybrid}\n  registration:\n    mode: Hybrid\n    activation:\n      managed: {iamRole: SSMServiceRole, registrationLimit: 5, expirationDays: 30, tags: {team: platform}}\n`,
  );
});

after(async () => {
  ssm?.destroy();
  await emulator?.stop();
  await env?.stop();
});

describe('managed activation', () => {
  let firstId = '';

  test('the first pass creates the activation and its Secret, owned by the config', async () => {
    const out = await step(0);
    assert.equal(out.error, undefined);
    assert.equal(out.action, 'create');
    assert.equal(out.condition?.status, 'True');
    assert.equal(out.condition?.reason, 'Valid');
    const secret = await getSecret(SECRET);
    assert.ok(secret, 'the Secret exists');
    firstId = decode(secret.data.activationId);
    const record = emulator.state.activation(firstId);
    assert.ok(record, 'the Secret names an activation SSM knows');
    assert.equal(decode(secret.data.activationCode), record.activationCode);
    assert.equal(out.activation?.id, firstId);
    assert.equal(out.activation?.registrationLimit, 5);
    assert.equal(secret.metadata.labels?.['ssmagent.io/config'], CONFIG);
    assert.equal(secret.metadata.labels?.['app.kubernetes.io/managed-by'], 'ssm-agent-operator');
    const config = await getConfig(CONFIG);
    assert.deepEqual(secret.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]), [['SsmAgentConfig', CONFIG, config.metadata.uid]]);
    // The activation: tags naming the cluster and the config plus the spec's, instance name, 30-day expiry.
    assert.deepEqual(emulator.state.tags('Activation', firstId), { 'ssmagent.io/cluster': CLUSTER, 'ssmagent.io/config': CONFIG, team: 'platform' });
    assert.equal(record.defaultInstanceName, CONFIG);
    assert.equal(record.iamRole, 'SSMServiceRole');
    assert.equal(record.registrationLimit, 5);
    const days = (record.expirationDate.getTime() - now().getTime()) / DAY_MS;
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
    // The code never goes into the outcome (which feeds status, events and logs).
    assert.doesNotMatch(JSON.stringify(out), new RegExp(record.activationCode.replace(/[+/=]/g, '.')));
  });

  test('a second pass keeps it', async () => {
    const before = emulator.state.callsTo('CreateActivation').length;
    const out = await step(0);
    assert.equal(out.action, 'keep');
    assert.equal(out.error, undefined);
    assert.equal(emulator.state.callsTo('CreateActivation').length, before);
  });

  test('close to expiry it rotates: new activation first, the old one kept until the registrations moved', async () => {
    emulator.clock.advance(25 * DAY_MS);
    const rotated = await step(2);
    assert.equal(rotated.error, undefined);
    assert.equal(rotated.action, 'rotate');
    assert.equal(rotated.condition?.reason, 'Rotating');
    const secret = await getSecret(SECRET);
    const newId = decode(secret?.data.activationId);
    assert.notEqual(newId, firstId);
    assert.ok(emulator.state.activation(newId), 'the new activation exists');
    assert.ok(emulator.state.activation(firstId), 'the old activation is still there');
    assert.equal(secret?.metadata.annotations?.[ANNOTATION_PREVIOUS_ACTIVATIONS], firstId);
    assert.equal(rotated.activation?.id, newId);

    // Two hybrid nodes have not registered yet: the old activation stays.
    const waiting = await step(2);
    assert.equal(waiting.action, 'keep');
    assert.equal(waiting.condition?.reason, 'Rotating');
    assert.ok(emulator.state.activation(firstId));

    // They registered (with the new code): the old one goes, and the Secret no longer lists it.
    const moved = await step(0);
    assert.equal(moved.error, undefined);
    assert.equal(moved.action, 'delete-old');
    assert.equal(moved.condition?.reason, 'Valid');
    assert.equal(emulator.state.activation(firstId), undefined);
    assert.ok(emulator.state.activation(newId));
    const after = await getSecret(SECRET);
    assert.equal(decode(after?.data.activationId), newId);
    assert.equal(after?.metadata.annotations?.[ANNOTATION_PREVIOUS_ACTIVATIONS], undefined);
    assert.equal((await step(0)).action, 'keep');
    // Both stay recorded on the config as its own: instances registered with the deleted one are still its.
    const history = (await getConfig(CONFIG)).metadata.annotations?.[ANNOTATION_ACTIVATION_IDS]?.split(',');
    assert.deepEqual(history, [firstId, newId]);
    assert.deepEqual(moved.activationIds.slice().sort(), [firstId, newId].sort());
  });

  test('an activation deleted behind the operator’s back is recreated, through throttling', async () => {
    const secret = await getSecret(SECRET);
    const id = decode(secret?.data.activationId);
    emulator.state.activationMap.delete(id);
    emulator.state.clearCalls();
    emulator.faults.throttleNext(3);
    const out = await step(0);
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.action, 'create');
    const throttled = emulator.state.calls().filter((c) => c.code === 'ThrottlingException');
    assert.equal(throttled.length, 3);
    const fresh = decode((await getSecret(SECRET))?.data.activationId);
    assert.notEqual(fresh, id);
    assert.ok(emulator.state.activation(fresh));
  });

  test('when SSM keeps failing the step reports CreateFailed and an error to retry, not a throw', async () => {
    const secret = await getSecret(SECRET);
    emulator.state.activationMap.delete(decode(secret?.data.activationId));
    emulator.faults.failNext(10, { operations: ['CreateActivation'], status: 400, type: 'ValidationException', message: 'role SSMServiceRole cannot be assumed' });
    const out = await step(0);
    emulator.faults.clear();
    assert.ok(out.error);
    assert.equal(out.condition?.status, 'False');
    assert.equal(out.condition?.reason, 'CreateFailed');
    assert.match(out.condition?.message ?? '', /cannot be assumed.*iam:PassRole/);
    // Next pass (faults gone) recovers.
    assert.equal((await step(0)).action, 'create');
  });
});

describe('managed activation: crash safety', () => {
  test('an activation left by a crash between CreateActivation and the Secret write is swept once old enough; others stay', async () => {
    const live = decode((await getSecret(SECRET))?.data.activationId);
    const tags = { 'ssmagent.io/cluster': CLUSTER, 'ssmagent.io/config': CONFIG };
    const expirationDate = new Date(now().getTime() + 10 * DAY_MS);
    // What a crashed pass leaves: created with this config's name and tags, its code gone with the process.
    const orphan = await ssm.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate, tags, defaultInstanceName: CONFIG });
    const otherCluster = await ssm.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate, tags: { ...tags, 'ssmagent.io/cluster': 'other' }, defaultInstanceName: CONFIG });
    const userMade = await ssm.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate, defaultInstanceName: CONFIG });
    assert.equal((await step(0)).error, undefined);
    assert.ok(emulator.state.activation(orphan.id), 'too young: it may still be on its way into the Secret');
    emulator.clock.advance(11 * 60_000);
    const out = await step(0);
    assert.equal(out.error, undefined, out.error);
    assert.equal(emulator.state.activation(orphan.id), undefined, 'the orphan is deleted');
    assert.ok(emulator.state.activation(live), 'the activation the Secret names stays');
    assert.ok(emulator.state.activation(otherCluster.id), 'another cluster’s stays');
    assert.ok(emulator.state.activation(userMade.id), 'one without our tags stays');
    await ssm.deleteActivation(otherCluster.id);
    await ssm.deleteActivation(userMade.id);
  });

  test('a crash after CreateActivation leaves the intent on the config: the next pass sweeps the orphan at once', async () => {
    const tags = { 'ssmagent.io/cluster': CLUSTER, 'ssmagent.io/config': CONFIG };
    const orphan = await ssm.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate: new Date(now().getTime() + 10 * DAY_MS), tags, defaultInstanceName: CONFIG });
    // What the dead pass wrote before calling CreateActivation, three minutes ago.
    await env.client.request('PATCH', resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [ANNOTATION_ACTIVATION_INTENT]: new Date(now().getTime() - 3 * 60_000).toISOString() } } },
    });
    const out = await step(0);
    assert.equal(out.error, undefined, out.error);
    assert.equal(emulator.state.activation(orphan.id), undefined, 'swept without waiting for the orphan age');
    assert.equal((await getConfig(CONFIG)).metadata.annotations?.[ANNOTATION_ACTIVATION_INTENT], undefined, 'the intent is cleared');
  });

  test('an intent left by another process (a restart) is swept once that process cannot still be creating (30 s), not after minutes', async () => {
    const tags = { 'ssmagent.io/cluster': CLUSTER, 'ssmagent.io/config': CONFIG };
    const orphan = await ssm.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate: new Date(now().getTime() + 10 * DAY_MS), tags, defaultInstanceName: CONFIG });
    // What a process SIGKILLed just now wrote before its CreateActivation: its own mark, not this process's.
    await env.client.request('PATCH', resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [ANNOTATION_ACTIVATION_INTENT]: `${now().toISOString()} 00000000-dead-4000-8000-000000000000` } } },
    });
    assert.equal((await step(0)).error, undefined);
    assert.ok(emulator.state.activation(orphan.id), 'that process may still be finishing its create');
    emulator.clock.advance(31_000);
    const out = await step(0);
    assert.equal(out.error, undefined, out.error);
    assert.equal(emulator.state.activation(orphan.id), undefined, 'the dead process’s activation is swept');
    assert.equal((await getConfig(CONFIG)).metadata.annotations?.[ANNOTATION_ACTIVATION_INTENT], undefined, 'the intent is cleared');
    assert.ok(emulator.state.activation(decode((await getSecret(SECRET))?.data.activationId)), 'the live activation stays');
  });

  test('a fresh intent of this process itself is not swept (its pass may still be writing the Secret)', async () => {
    const tags = { 'ssmagent.io/cluster': CLUSTER, 'ssmagent.io/config': CONFIG };
    const inFlight = await ssm.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate: new Date(now().getTime() + 10 * DAY_MS), tags, defaultInstanceName: CONFIG });
    await env.client.request('PATCH', resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [ANNOTATION_ACTIVATION_INTENT]: intentValue(now().toISOString()) } } },
    });
    assert.equal((await step(0)).error, undefined);
    assert.ok(emulator.state.activation(inFlight.id), 'left alone while its pass may still be running');
    await ssm.deleteActivation(inFlight.id);
    await env.client.request('PATCH', resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [ANNOTATION_ACTIVATION_INTENT]: null } } },
    });
  });

  test('a config changed by another writer while the new activation is recorded: recorded anyway, not deleted', async () => {
    const before = decode((await getSecret(SECRET))?.data.activationId);
    emulator.state.activationMap.delete(before); // so the next pass creates one
    // The controller writes the config (status, finalizer) between the step's read and its patch: a 409 Conflict.
    const racing = Object.create(env.client) as typeof env.client;
    let raced = 0;
    racing.get = async <T,>(path: string): Promise<T> => {
      const result = await env.client.get<T>(path);
      if (path === resourcePath(RESOURCES.ssmAgentConfig, { name: CONFIG }) && raced++ < 2) {
        await env.client.request('PATCH', path, { contentType: 'application/merge-patch+json', body: { metadata: { annotations: { 'test/race': String(raced) } } } });
      }
      return result;
    };
    emulator.state.clearCalls();
    const out = await reconcileActivation({ client: racing, ssm, namespace: NAMESPACE, clusterName: CLUSTER, config: await getConfig(CONFIG), agentsStillOnOld: 0, now });
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.action, 'create');
    assert.equal(emulator.state.callsTo('DeleteActivation').length, 0, 'the new activation is not thrown away');
    const named = decode((await getSecret(SECRET))?.data.activationId);
    assert.ok(emulator.state.activation(named));
    assert.ok((await getConfig(CONFIG)).metadata.annotations?.[ANNOTATION_ACTIVATION_IDS]?.includes(named), 'recorded on the config');
  });

  test('a Secret write that timed out but succeeded keeps the new activation (it is live)', async () => {
    const before = decode((await getSecret(SECRET))?.data.activationId);
    emulator.state.activationMap.delete(before); // so the next pass creates one
    // The write reaches the API server, then the client gives up waiting.
    const flaky = Object.create(env.client) as typeof env.client;
    flaky.request = async <T,>(method: string, path: string, options?: Parameters<typeof env.client.request>[2]): Promise<T> => {
      const result = await env.client.request<T>(method, path, options);
      if (method === 'PATCH' && path.endsWith(`/secrets/${SECRET}`)) throw new Error('PATCH secret: The operation was aborted due to timeout');
      return result;
    };
    const out = await reconcileActivation({ client: flaky, ssm, namespace: NAMESPACE, clusterName: CLUSTER, config: await getConfig(CONFIG), agentsStillOnOld: 0, now });
    assert.equal(out.error, undefined, out.error);
    assert.equal(out.action, 'create');
    const named = decode((await getSecret(SECRET))?.data.activationId);
    assert.notEqual(named, before);
    assert.ok(emulator.state.activation(named), 'the activation the Secret names exists');
    assert.equal((await getConfig(CONFIG)).metadata.annotations?.[ANNOTATION_ACTIVATION_INTENT], undefined, 'the intent is cleared once the Secret names it');
    assert.equal((await step(0)).action, 'keep');
  });
});

describe('user-made activation (secretRef)', () => {
  test('an expired activation is ActivationReady False with what to do; the Secret is never touched', async () => {
    const created = await ssm.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 2, expirationDate: new Date(now().getTime() + DAY_MS) });
    await env.client.request('POST', resourcePath(RESOURCES.secret, { namespace: NAMESPACE }), {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'my-activation', namespace: NAMESPACE }, stringData: { activationId: created.id, activationCode: created.code } },
    });
    await apply(
      `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${USER_CONFIG}}\nspec:\n  region: eu-west-1\n  nodeSelector: {pool: user}\n  registration:\n    mode: Hybrid\n    activation: {secretRef: {name: my-activation}}\n`,
    );
    const valid = await step(0, USER_CONFIG);
    assert.equal(valid.condition?.status, 'True');
    assert.equal(valid.activation?.id, created.id);

    const before = await getSecret('my-activation');
    emulator.clock.advance(2 * DAY_MS);
    const expired = await step(0, USER_CONFIG);
    assert.equal(expired.action, 'keep');
    assert.equal(expired.error, undefined);
    assert.equal(expired.condition?.status, 'False');
    assert.equal(expired.condition?.reason, 'Expired');
    assert.match(expired.condition?.message ?? '', /my-activation/);
    const afterSecret = await getSecret('my-activation');
    assert.equal(afterSecret?.metadata.resourceVersion, before?.metadata.resourceVersion);
    assert.ok(emulator.state.activation(created.id), 'the user’s activation is not deleted');
  });
});

describe('managed instances', () => {
  test('the sweep deregisters an instance tagged for a node that is gone, tags reported ones, and leaves others alone', async () => {
    await env.createNode('hy-node-a', { pool: 'hybrid' });
    await env.createNode('hy-node-b', { pool: 'hybrid' });
    const ours = { 'ssmagent.io/cluster': CLUSTER, 'ssmagent.io/config': CONFIG };
    const tagList = (t: Record<string, string>) => Object.entries(t).map(([Key, Value]) => ({ Key, Value }));
    const activationId = decode((await getSecret(SECRET))?.data.activationId);
    const foreign = '00000000-0000-4000-8000-000000000000';
    const a = emulator.state.addInstance({ activationId, tags: tagList({ ...ours, 'ssmagent.io/node': 'hy-node-a' }) });
    // registered through the activation: it has the activation's tags but not yet the node's
    const b = emulator.state.addInstance({ activationId, tags: tagList(ours) });
    const gone = emulator.state.addInstance({ activationId, tags: tagList({ ...ours, 'ssmagent.io/node': 'hy-node-deleted' }) });
    const otherCluster = emulator.state.addInstance({ activationId: foreign, tags: tagList({ ...ours, 'ssmagent.io/cluster': 'other', 'ssmagent.io/node': 'hy-node-deleted' }) });
    // the same tags as ours, but another activation (another cluster left at the same identity)
    const lookAlike = emulator.state.addInstance({ activationId: foreign, tags: tagList({ ...ours, 'ssmagent.io/node': 'hy-node-deleted' }) });
    const untagged = emulator.state.addInstance({ tags: [] });
    emulator.state.setPingStatus(b.instanceId, 'ConnectionLost');

    const nodes = await env.client.get<{ items: { metadata: { name: string } }[] }>(resourcePath(RESOURCES.node));
    emulator.faults.throttleNext(3);
    const out = await reconcileInstances({
      ssm,
      cluster: CLUSTER,
      config: CONFIG,
      nodes: [
        { node: 'hy-node-a', instanceId: a.instanceId },
        { node: 'hy-node-b', instanceId: b.instanceId },
      ],
      existingNodes: new Set(nodes.items.map((n) => n.metadata.name)),
      ownActivations: new Set([activationId]),
      deregisterOnNodeDelete: true,
      uninstall: false,
    });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.deregistered.map((d) => [d.id, d.reason]), [[gone.instanceId, 'NodeDeleted']]);
    assert.equal(emulator.state.instance(gone.instanceId), undefined);
    for (const kept of [a, b, otherCluster, lookAlike, untagged]) assert.ok(emulator.state.instance(kept.instanceId), `${kept.instanceId} stays`);
    assert.deepEqual(out.tagged, [b.instanceId]);
    assert.equal(emulator.state.tags('ManagedInstance', b.instanceId)?.['ssmagent.io/node'], 'hy-node-b');
    assert.equal(out.online, 1);

    // Uninstall: every instance of the config goes, the other cluster's stays.
    const uninstall = await reconcileInstances({
      ssm,
      cluster: CLUSTER,
      config: CONFIG,
      nodes: [],
      existingNodes: new Set(nodes.items.map((n) => n.metadata.name)),
      ownActivations: new Set([activationId]),
      deregisterOnNodeDelete: true,
      uninstall: true,
    });
    assert.deepEqual(uninstall.errors, []);
    assert.deepEqual(uninstall.deregistered.map((d) => d.id).sort(), [a.instanceId, b.instanceId].sort());
    assert.ok(emulator.state.instance(otherCluster.instanceId));
    assert.ok(emulator.state.instance(lookAlike.instanceId));
    assert.ok(emulator.state.instance(untagged.instanceId));
  });
});

describe('the SSM sync (the controller the manager runs)', () => {
  test('keeps an outcome per config for the status, pokes the reconciler, and on deletion cleans up SSM', async () => {
    const name = 'hybrid-loop';
    await apply(
      `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${name}}\nspec:\n  region: eu-west-1\n  nodeSelector: {pool: loop}\n  deletionPolicy: Uninstall\n  registration:\n    mode: Hybrid\n    activation:\n      managed: {iamRole: SSMServiceRole}\n`,
    );
    const config = validateConfig(await env.client.get<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name })));
    const changed: string[] = [];
    const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const wiring = new SsmSyncReconciler({
      client: env.client,
      namespace: NAMESPACE,
      clusterName: CLUSTER,
      log,
      ssmFor: () => ssm,
      config: (n) => (n === name ? config : undefined),
      nodeNames: () => ['hy-node-a', 'hy-node-b'],
      fleet: () => [],
      onChange: (c) => changed.push(c),
      intervalMs: 60_000,
      now,
    });
    const loop = new Controller({ name: SSM_SYNC_CONTROLLER, reconciler: wiring, workers: 1, log, metrics: createOperatorMetrics() });
    loop.enqueue(name);
    loop.start();
    try {
      const outcome = await waitFor('the loop’s activation outcome', () => wiring.outcome(name)?.activation?.condition?.reason === 'Valid' && wiring.outcome(name));
      assert.deepEqual(changed, [name]);
      const id = outcome.activation?.activation?.id ?? '';
      assert.ok(emulator.state.activation(id));
      assert.equal(decode((await getSecret(`ssm-activation-${name}`))?.data.activationId), id);
      const tags = (node: string) => [
        { Key: 'ssmagent.io/cluster', Value: CLUSTER },
        { Key: 'ssmagent.io/config', Value: name },
        { Key: 'ssmagent.io/node', Value: node },
      ];
      const mine = emulator.state.addInstance({ activationId: id, tags: tags('hy-node-a') });
      const other = emulator.state.addInstance({ activationId: id, tags: [{ Key: 'ssmagent.io/cluster', Value: CLUSTER }, { Key: 'ssmagent.io/config', Value: CONFIG }, { Key: 'ssmagent.io/node', Value: 'hy-node-a' }] });
      // The config as the finalizer sees it: with the activation ids the loop recorded on it.
      const recorded = await env.client.get<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name }));
      assert.equal(await wiring.finalize(validateConfig(recorded)), undefined);
      assert.equal(emulator.state.activation(id), undefined, 'the managed activation is deleted with the config');
      assert.equal(emulator.state.instance(mine.instanceId), undefined, 'Uninstall deregisters the config’s instances');
      assert.ok(emulator.state.instance(other.instanceId), 'another config’s instance stays');
    } finally {
      await loop.stop();
    }
  });

  test('EKS Hybrid Nodes: a nodeadm node’s instance is never tagged, warned about, swept or deregistered', async () => {
    const name = 'hybrid-nodeadm';
    await apply(
      `apiVersion: ssmagent.io/v1alpha1\nkind: SsmAgentConfig\nmetadata: {name: ${name}}\nspec:\n  region: eu-west-1\n  nodeSelector: {pool: nodeadm}\n  deletionPolicy: Uninstall\n  registration:\n    mode: Hybrid\n    activation:\n      managed: {iamRole: SSMServiceRole}\n`,
    );
    const config = validateConfig(await env.client.get<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name })));
    // nodeadm registered both hosts with an activation of its own; only one of them is reported as nodeadm's.
    const nodeadmActivation = emulator.state.newActivation({ iamRole: 'EKSHybridNodeRole', registrationLimit: 10, expirationDate: new Date(now().getTime() + 7 * DAY_MS), tags: [] });
    const adopted = emulator.state.addInstance({ activationId: nodeadmActivation.activationId, tags: [] });
    const foreign = emulator.state.addInstance({ activationId: nodeadmActivation.activationId, tags: [] });
    const entry = (node: string, instanceId: string, nodeadm: boolean) => ({
      node,
      config: name,
      connected: true,
      state: { ...(nodeadm ? { facts: { externallyManaged: 'nodeadm' as const } } : {}), observation: { serviceActive: true, version: '3.3.1142.0', instanceId, region: 'eu-west-1' } },
    });
    const events: { reason: string; message: string }[] = [];
    let nodeNames = ['hy-nodeadm', 'hy-foreign'];
    let fleet = [entry('hy-nodeadm', adopted.instanceId, true), entry('hy-foreign', foreign.instanceId, false)];
    const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
    const wiring = new SsmSyncReconciler({
      client: env.client,
      namespace: NAMESPACE,
      clusterName: CLUSTER,
      log,
      ssmFor: () => ssm,
      config: (n) => (n === name ? config : undefined),
      nodeNames: () => nodeNames,
      fleet: () => fleet,
      onChange: () => undefined,
      onEvent: (_c, e) => events.push({ reason: e.reason, message: e.message }),
      intervalMs: 200,
      now,
    });
    const loop = new Controller({ name: SSM_SYNC_CONTROLLER, reconciler: wiring, workers: 1, log, metrics: createOperatorMetrics() });
    loop.enqueue(name);
    loop.start();
    try {
      // The other host's instance is not this config's: warned about once. The adopted one is not even that.
      const warning = await waitFor('the InstanceNotOwned warning of the foreign host', () => events.find((e) => e.reason === 'InstanceNotOwned'));
      assert.match(warning.message, new RegExp(foreign.instanceId));
      // Both Nodes go: the adopted instance is nodeadm's to deregister (`nodeadm uninstall`), never the operator's.
      nodeNames = [];
      if (wiring.nodeDeleted('hy-nodeadm', adopted.instanceId)) loop.enqueue(name);
      fleet = [];
      await new Promise((r) => setTimeout(r, 1_000));
      const recorded = await env.client.get<SsmAgentConfig>(resourcePath(RESOURCES.ssmAgentConfig, { name }));
      assert.equal(await wiring.finalize(validateConfig(recorded)), undefined);
      assert.ok(emulator.state.instance(adopted.instanceId), 'the adopted instance is still registered');
      assert.deepEqual(emulator.state.tags('ManagedInstance', adopted.instanceId) ?? {}, {}, 'and never tagged');
      assert.ok(!events.some((e) => e.message.includes(adopted.instanceId)), JSON.stringify(events));
    } finally {
      await loop.stop();
    }
  });
});
