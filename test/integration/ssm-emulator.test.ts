// The operator's SSM client layer (operator/aws, over the real @aws-sdk/client-ssm) against the SSM API emulator
// over HTTP: activations, registration the way the agent's `-register` does it (an anonymous
// RegisterManagedInstance), tags, listing by tag, ping status, deregistration; SigV4 refusals in AWS's shape;
// throttling and 5xx retried by the SDK and counted per attempt; expiry through the emulator's clock; the
// registration limit; and the emulator as a standalone process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { DescribeActivationsCommand, ListTagsForResourceCommand, type SSMServiceException } from '@aws-sdk/client-ssm';
import { createSsmApi, registerSsmApiMetrics, ssmErrorCode, type SsmApi, type SsmApiRequestsCounter } from '../../operator/aws/index.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';
import { sdkSignedHeaders } from '../servers/ssm-emulator/sdk-signer.ts';
import { startProcess, type ManagedProcess } from '../harness/managed-process.ts';
import { waitFor } from '../harness/wait.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const DAY_MS = 24 * 60 * 60 * 1000;
const JSON_11 = 'application/x-amz-json-1.1';

/** An RSA key as the agent sends it: base64 of the PKIX DER of a 2048-bit public key (x509.MarshalPKIXPublicKey). */
function agentPublicKey(): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

interface RawAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function post(url: string, operation: string, body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const res = await fetch(`${url}/`, {
    method: 'POST',
    headers: { 'content-type': JSON_11, 'x-amz-target': `AmazonSSM.${operation}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** RegisterManagedInstance exactly as the agent sends it: anonymous (AnonymousCredentials), the agent's fields. */
function register(url: string, activation: { id: string; code: string }, opts: { publicKey?: string; userAgent?: string } = {}): Promise<RawAnswer> {
  return post(
    url,
    'RegisterManagedInstance',
    {
      ActivationCode: activation.code,
      ActivationId: activation.id,
      PublicKey: opts.publicKey ?? agentPublicKey(),
      PublicKeyType: 'Rsa',
      Fingerprint: randomUUID(),
    },
    { 'user-agent': opts.userAgent ?? 'aws-sdk-go/1.55.5 (go1.22.7; linux; amd64) amazon-ssm-agent/3.3.1142.0' },
  );
}

/** A request signed by the SDK's own SigV4 signer (@smithy/signature-v4), sent with fetch. */
async function signedPost(emulator: SsmEmulator, operation: string, body: unknown, creds = emulator.credentials, region = emulator.region): Promise<RawAnswer> {
  const payload = JSON.stringify(body);
  const headers = await sdkSignedHeaders({
    url: emulator.url,
    headers: { 'content-type': JSON_11, 'x-amz-target': `AmazonSSM.${operation}` },
    body: payload,
    credentials: creds,
    region,
  });
  const res = await fetch(`${emulator.url}/`, { method: 'POST', headers, body: payload });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function count(counter: SsmApiRequestsCounter, operation: string, code: string): Promise<number> {
  const m = await counter.get();
  return m.values.find((v) => v.labels.operation === operation && v.labels.code === code)?.value ?? 0;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<SSMServiceException> {
  try {
    await p;
  } catch (err) {
    assert.equal(ssmErrorCode(err), code, `expected ${code}, got ${String(err)}`);
    return err as SSMServiceException;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

function assertAwsError(a: RawAnswer, status: number, type: string): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assert.equal(String(a.body.__type).replace(/^.*#/, ''), type, JSON.stringify(a.body));
  assert.equal(a.headers.get('content-type'), JSON_11);
  assert.match(a.headers.get('x-amzn-errortype') ?? '', new RegExp(`^${type}(:|$)`));
  assert.match(a.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
}

describe('operator/aws against the SSM emulator', () => {
  let emulator: SsmEmulator;
  let registry: Registry;
  let counter: SsmApiRequestsCounter;
  let api: SsmApi;

  before(async () => {
    emulator = await startSsmEmulator();
    registry = new Registry();
    counter = registerSsmApiMetrics(registry);
    api = createSsmApi({
      region: emulator.region,
      endpoint: emulator.url,
      credentials: { kind: 'static', ...emulator.credentials },
      requestsCounter: counter,
      maxAttempts: 5,
    });
  });

  after(async () => {
    api.destroy();
    await emulator.stop();
  });

  const expiresIn = (days: number) => new Date(emulator.clock.now().getTime() + days * DAY_MS);

  test('activation: create, describe, delete (twice)', async () => {
    const created = await api.createActivation({
      iamRole: 'SSMServiceRole',
      registrationLimit: 3,
      expirationDate: expiresIn(7),
      tags: { 'ssmagent.io/config': 'fleet-a' },
      description: 'managed by ssm-agent-operator',
      defaultInstanceName: 'fleet-a',
    });
    assert.match(created.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.code.length, 20);
    assert.equal(emulator.state.activation(created.id)?.activationCode, created.code);

    const info = await api.describeActivation(created.id);
    assert.ok(info);
    assert.equal(info.id, created.id);
    assert.equal(info.expired, false);
    assert.equal(info.registrationsCount, 0);
    assert.equal(info.registrationLimit, 3);
    assert.equal(info.iamRole, 'SSMServiceRole');
    assert.equal(info.defaultInstanceName, 'fleet-a');
    assert.deepEqual(info.tags, { 'ssmagent.io/config': 'fleet-a' });
    assert.ok(info.expiresAt && Math.abs(info.expiresAt.getTime() - expiresIn(7).getTime()) < 5_000);

    assert.equal(await api.deleteActivation(created.id), 'deleted');
    assert.equal(await api.describeActivation(created.id), undefined);
    assert.equal(await api.deleteActivation(created.id), 'absent');
    assert.equal(emulator.state.activation(created.id), undefined);
    // The service validates: 30 days ahead at most.
    await rejectsWith(api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: expiresIn(31) }), 'InvalidParameters');
    await rejectsWith(api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 0, expirationDate: expiresIn(1) }), 'ValidationException');
  });

  test('register like the agent, tag, list by tag, ping status, deregister', async () => {
    const activation = await api.createActivation({
      iamRole: 'SSMServiceRole',
      registrationLimit: 5,
      expirationDate: expiresIn(30),
      tags: { cluster: 'c1' },
      defaultInstanceName: 'node-host',
    });
    const reg = await register(emulator.url, activation);
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    const id = String(reg.body.InstanceId);
    assert.match(id, /^mi-[0-9a-f]{17}$/);
    const call = emulator.state.callsTo('RegisterManagedInstance').at(-1);
    assert.equal(call?.anonymous, true);
    assert.equal(call?.input.ActivationCode, '(redacted)');
    assert.equal((await api.describeActivation(activation.id))?.registrationsCount, 1);

    // An EC2 instance with the same tag is not a hybrid managed instance.
    emulator.state.addInstance({ resourceType: 'EC2Instance', tags: [{ Key: 'cluster', Value: 'c1' }] });
    const byActivationTag = await api.listManagedInstances({ tagFilters: { cluster: 'c1' } });
    assert.deepEqual(byActivationTag.map((i) => i.instanceId), [id]);
    const [listed] = byActivationTag;
    // as in SSM: not Online until the agent itself pings (UpdateInstanceInformation)
    assert.equal(listed?.pingStatus, 'ConnectionLost');
    assert.equal(listed?.resourceType, 'ManagedInstance');
    assert.equal(listed?.name, 'node-host');
    assert.equal(listed?.agentVersion, '3.3.1142.0');
    assert.equal(listed?.activationId, activation.id);
    assert.equal(listed?.iamRole, 'SSMServiceRole');
    assert.ok(listed?.registeredAt instanceof Date);
    // never pinged: SSM has no ping time, hostname or address for it (the duplicate sweep relies on this)
    assert.equal(listed?.lastPingAt, undefined);
    assert.equal(listed?.computerName, undefined);
    assert.equal(listed?.ipAddress, undefined);

    await api.tagInstance(id, { 'ssmagent.io/node': 'worker-1' });
    assert.deepEqual(await api.listInstanceTags(id), { cluster: 'c1', 'ssmagent.io/node': 'worker-1' });
    assert.deepEqual((await api.listManagedInstances({ tagFilters: { 'ssmagent.io/node': 'worker-1', cluster: 'c1' } })).map((i) => i.instanceId), [id]);
    assert.deepEqual(await api.listManagedInstances({ tagFilters: { 'ssmagent.io/node': 'worker-2' } }), []);

    emulator.state.ping(id);
    const unknown = 'mi-0123456789abcdef0';
    let described = await api.describeInstances([id, unknown]);
    assert.deepEqual([...described.keys()], [id]);
    assert.equal(described.get(id)?.pingStatus, 'Online');
    // A malformed id makes SSM refuse the whole batch (InvalidInstanceId): the client asks one by one.
    assert.deepEqual([...(await api.describeInstances(['mi-not-an-id', id])).keys()], [id]);

    // No ping for longer than the emulator's ping timeout: ConnectionLost; a heartbeat brings it back.
    emulator.clock.advance(emulator.state.pingTimeoutMs + 60_000);
    described = await api.describeInstances([id]);
    assert.equal(described.get(id)?.pingStatus, 'ConnectionLost');
    emulator.state.ping(id, { platformName: 'Debian GNU/Linux', platformVersion: '12', computerName: 'worker-1', ipAddress: '10.0.0.7' });
    described = await api.describeInstances([id]);
    assert.equal(described.get(id)?.pingStatus, 'Online');
    assert.equal(described.get(id)?.platformName, 'Debian GNU/Linux');
    // what the agent's ping reported, as DescribeInstanceInformation returns it (ComputerName, IPAddress)
    assert.equal(described.get(id)?.computerName, 'worker-1');
    assert.equal(described.get(id)?.ipAddress, '10.0.0.7');
    assert.ok(described.get(id)?.lastPingAt instanceof Date);
    emulator.clock.reset();

    assert.equal(await api.deregisterInstance(id), 'deregistered');
    assert.equal(await api.deregisterInstance(id), 'absent');
    assert.equal((await api.describeInstances([id])).size, 0);
    assert.equal(emulator.state.instance(id), undefined);
    await rejectsWith(api.tagInstance(id, { a: 'b' }), 'InvalidResourceId');
  });

  test('listing pages through every instance; DescribeActivations pages with NextToken', async () => {
    for (let n = 0; n < 120; n++) emulator.state.addInstance({ tags: [{ Key: 'fleet', Value: 'big' }] });
    emulator.state.clearCalls();
    const all = await api.listManagedInstances({ tagFilters: { fleet: 'big' } });
    assert.equal(all.length, 120);
    assert.equal(new Set(all.map((i) => i.instanceId)).size, 120);
    const pages = emulator.state.callsTo('DescribeInstanceInformation');
    assert.equal(pages.length, 3);
    assert.equal(pages[0]?.input.MaxResults, 50);
    assert.deepEqual(pages[0]?.input.Filters, [{ Key: 'tag:fleet', Values: ['big'] }]);

    const ids = all.slice(0, 70).map((i) => i.instanceId);
    assert.equal((await api.describeInstances(ids)).size, 70);

    for (let n = 0; n < 3; n++) await api.createActivation({ iamRole: 'PagingRole', registrationLimit: 1, expirationDate: expiresIn(1) });
    const filter = [{ FilterKey: 'IamRole' as const, FilterValues: ['PagingRole'] }];
    const first = await api.client.send(new DescribeActivationsCommand({ Filters: filter, MaxResults: 2 }));
    assert.equal(first.ActivationList?.length, 2);
    assert.ok(first.NextToken);
    const second = await api.client.send(new DescribeActivationsCommand({ Filters: filter, MaxResults: 2, NextToken: first.NextToken }));
    assert.equal(second.ActivationList?.length, 1);
    assert.equal(second.NextToken, undefined);
    await rejectsWith(api.client.send(new DescribeActivationsCommand({ Filters: filter, NextToken: 'bm90LWEtdG9rZW4' })), 'InvalidNextToken');
  });

  test('requests without a valid SigV4 signature are refused in AWS shape', async () => {
    const op = 'DescribeActivations';
    assertAwsError(await post(emulator.url, op, {}), 400, 'MissingAuthenticationTokenException');
    assertAwsError(await post(emulator.url, op, {}, { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE' }), 400, 'IncompleteSignatureException');
    assertAwsError(await post(emulator.url, op, {}, { authorization: 'Bearer abc' }), 400, 'IncompleteSignatureException');

    // The SDK's own signer, right key: accepted (the emulator's verifier and the SDK's signer agree).
    const good = await signedPost(emulator, op, {});
    assert.equal(good.status, 200, JSON.stringify(good.body));
    const wrongSecret = await signedPost(emulator, op, {}, { ...emulator.credentials, secretAccessKey: 'not-the-secret' });
    assertAwsError(wrongSecret, 400, 'InvalidSignatureException');
    assert.match(String(wrongSecret.body.message), /^The request signature we calculated does not match the signature you provided/);
    assertAwsError(await signedPost(emulator, op, {}, { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' }), 400, 'UnrecognizedClientException');
    const wrongRegion = await signedPost(emulator, op, {}, emulator.credentials, 'eu-west-1');
    assertAwsError(wrongRegion, 400, 'InvalidSignatureException');
    assert.match(String(wrongRegion.body.message), /scoped to a valid region/);

    // Through the SDK: the error type reaches the caller as the exception's name.
    const badApi = createSsmApi({ region: emulator.region, endpoint: emulator.url, credentials: { kind: 'static', accessKeyId: emulator.credentials.accessKeyId, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    try {
      const err = await rejectsWith(badApi.describeActivation(randomUUID()), 'InvalidSignatureException');
      assert.equal(err.$metadata.httpStatusCode, 400);
      assert.equal(err.$fault, 'client');
    } finally {
      badApi.destroy();
    }

    // Unknown operations, and ListTagsForResource on an activation (not a taggable resource type in SSM).
    assertAwsError(await signedPost(emulator, 'RunEverything', {}), 400, 'UnknownOperationException');
    await rejectsWith(api.client.send(new ListTagsForResourceCommand({ ResourceType: 'Activation' as 'ManagedInstance', ResourceId: randomUUID() })), 'ValidationException');
  });

  test('throttling on the next 3 calls: the client backs off, retries, succeeds; the metric counts each attempt', async () => {
    const created = await api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: expiresIn(1) });
    emulator.state.clearCalls();
    const before = { throttled: await count(counter, 'DescribeActivations', 'ThrottlingException'), ok: await count(counter, 'DescribeActivations', 'OK') };
    emulator.faults.throttleNext(3);
    const started = Date.now();
    const info = await api.describeActivation(created.id);
    assert.equal(info?.id, created.id);
    assert.ok(Date.now() - started >= 50, 'the SDK waited between attempts');
    assert.deepEqual(
      emulator.state.callsTo('DescribeActivations').map((c) => `${c.status} ${c.code}`),
      ['400 ThrottlingException', '400 ThrottlingException', '400 ThrottlingException', '200 OK'],
    );
    assert.equal((await count(counter, 'DescribeActivations', 'ThrottlingException')) - before.throttled, 3);
    assert.equal((await count(counter, 'DescribeActivations', 'OK')) - before.ok, 1);
    assert.match(await registry.metrics(), /ssm_operator_ssm_api_requests_total\{operation="DescribeActivations",code="ThrottlingException"\} \d+/);
  });

  test('5xx: retried; past maxAttempts the InternalServerError reaches the caller', async () => {
    const before = await count(counter, 'DescribeInstanceInformation', 'InternalServerError');
    emulator.faults.failNext(2);
    assert.equal((await api.listManagedInstances({ tagFilters: { none: 'x' } })).length, 0);
    assert.equal((await count(counter, 'DescribeInstanceInformation', 'InternalServerError')) - before, 2);

    emulator.faults.failNext(10, { operations: ['DescribeInstanceInformation'] });
    const err = await rejectsWith(api.listManagedInstances(), 'InternalServerError');
    assert.equal(err.$metadata.httpStatusCode, 500);
    assert.equal(err.$metadata.attempts, 5);
    assert.equal((await count(counter, 'DescribeInstanceInformation', 'InternalServerError')) - before, 7);
    emulator.faults.clear();
  });

  test('CreateActivation is not idempotent: a lost answer is not retried (one activation, not two); throttling is', async () => {
    const before = emulator.state.activations().length;
    emulator.state.clearCalls();
    // SSM created it, the answer was lost: a retry would make a second activation whose code nobody keeps.
    emulator.faults.failAfterNext(1, { operations: ['CreateActivation'] });
    await rejectsWith(api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: expiresIn(1) }), 'InternalServerError');
    assert.equal(emulator.state.callsTo('CreateActivation').length, 1, 'sent once');
    assert.equal(emulator.state.activations().length, before + 1, 'one activation (found later by the orphan sweep), not two');
    emulator.faults.failNext(1, { operations: ['CreateActivation'] });
    await rejectsWith(api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: expiresIn(1) }), 'InternalServerError');
    assert.equal(emulator.state.callsTo('CreateActivation').length, 2, 'a 5xx is not retried either: SSM may have acted');
    // Throttling proves nothing happened: retried.
    emulator.faults.throttleNext(2, { operations: ['CreateActivation'] });
    const created = await api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: expiresIn(1) });
    assert.ok(emulator.state.activation(created.id));
    assert.deepEqual(emulator.state.callsTo('CreateActivation').slice(2).map((c) => c.code), ['ThrottlingException', 'ThrottlingException', 'OK']);
    emulator.faults.clear();
  });

  test('expiry through the clock: Expired in DescribeActivations, registration refused with ActivationExpired', async () => {
    const activation = await api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 10, expirationDate: expiresIn(1) });
    emulator.clock.advance(2 * DAY_MS);
    try {
      const info = await api.describeActivation(activation.id);
      assert.equal(info?.expired, true);
      const reg = await register(emulator.url, activation);
      assertAwsError(reg, 400, 'ActivationExpired');
      assert.equal((await api.describeActivation(activation.id))?.registrationsCount, 0);
    } finally {
      emulator.clock.reset();
    }
  });

  test('registration limit, wrong code, deleted activation, bad key', async () => {
    const activation = await api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: expiresIn(1) });
    assert.equal((await register(emulator.url, activation)).status, 200);
    const second = await register(emulator.url, activation);
    assertAwsError(second, 400, 'RegistrationLimitExceeded');
    const info = await api.describeActivation(activation.id);
    assert.equal(info?.registrationsCount, 1);
    assert.equal(info?.registrationLimit, 1);

    const other = await api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate: expiresIn(1) });
    assertAwsError(await register(emulator.url, { id: other.id, code: 'A'.repeat(20) }), 400, 'InvalidActivation');
    assertAwsError(await register(emulator.url, other, { publicKey: Buffer.alloc(300, 1).toString('base64') }), 400, 'InvalidPublicKey');
    const key = agentPublicKey();
    assert.equal((await register(emulator.url, other, { publicKey: key })).status, 200);
    assertAwsError(await register(emulator.url, other, { publicKey: key }), 400, 'InstanceAlreadyRegistered');
    assertAwsError(await post(emulator.url, 'RegisterManagedInstance', { ActivationId: other.id, ActivationCode: other.code }), 400, 'ValidationException');
    await api.deleteActivation(other.id);
    assertAwsError(await register(emulator.url, other), 400, 'InvalidActivation');
  });

  test('credentials from the standard chain (environment)', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, profile: process.env.AWS_PROFILE };
    process.env.AWS_ACCESS_KEY_ID = emulator.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = emulator.credentials.secretAccessKey;
    delete process.env.AWS_PROFILE;
    const chainApi = createSsmApi({ region: emulator.region, endpoint: emulator.url, maxAttempts: 1 });
    try {
      assert.equal(await chainApi.describeActivation(randomUUID()), undefined);
    } finally {
      chainApi.destroy();
      for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_PROFILE', saved.profile]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('the emulator as a standalone process', () => {
  let dir: string;
  let proc: ManagedProcess | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ssm-emulator-'));
  });

  after(async () => {
    await proc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('main.ts serves the API and the control endpoints', async () => {
    const logPath = join(dir, 'emulator.log');
    proc = startProcess({
      name: 'ssm-emulator',
      command: process.execPath,
      args: [resolve(HERE, '..', 'servers', 'ssm-emulator', 'main.ts'), '--port', '0'],
      logPath,
    });
    const info = await waitFor('the emulator to print its address', () => {
      const line = readFileSync(logPath, 'utf8').split('\n').find((l) => l.startsWith('{'));
      return line ? (JSON.parse(line) as { url: string; region: string; accessKeyId: string; secretAccessKey: string; control: string }) : undefined;
    });
    const api = createSsmApi({ region: info.region, endpoint: info.url, credentials: { kind: 'static', accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey }, maxAttempts: 2 });
    try {
      const activation = await api.createActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: new Date(Date.now() + DAY_MS) });
      const reg = await register(info.url, activation);
      assert.equal(reg.status, 200);
      const clock = await fetch(`${info.control}clock`, { method: 'POST', body: JSON.stringify({ advanceMs: 2 * DAY_MS }) });
      assert.equal(clock.status, 200);
      assert.equal((await api.describeActivation(activation.id))?.expired, true);
      const faults = await fetch(`${info.control}faults`, { method: 'POST', body: JSON.stringify({ throttleNext: 1 }) });
      assert.deepEqual(await faults.json(), { throttle: 1, fail: 0, roleToken: null });
      const denied = await fetch(`${info.control}faults`, { method: 'POST', body: JSON.stringify({ roleToken: 'AccessDenied' }) });
      assert.equal(((await denied.json()) as { roleToken: string }).roleToken, 'AccessDenied');
      const bad = await fetch(`${info.control}faults`, { method: 'POST', body: JSON.stringify({ roleToken: 'Sometimes' }) });
      assert.equal(bad.status, 400);
      await fetch(`${info.control}faults`, { method: 'POST', body: JSON.stringify({ roleToken: null }) });
      assert.equal((await api.listManagedInstances()).length, 1);
      const state = (await (await fetch(`${info.control}state`)).json()) as { instances: { instanceId: string }[]; calls: { code: string }[] };
      assert.equal(state.instances[0]?.instanceId, reg.body.InstanceId);
      assert.ok(state.calls.some((c) => c.code === 'ThrottlingException'));
    } finally {
      api.destroy();
    }
  });
});
