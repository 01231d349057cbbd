// What a registered agent calls next, against the emulator on loopback: RequestManagedInstanceRoleToken signed with
// the registration key (verified against the public key the instance registered), the role credentials it returns,
// and UpdateInstanceInformation signed with those, which is what makes the instance Online. Fault switches:
// AccessDenied, Expired, Throttled.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { newAgentKeys, ping, registerAnonymously, requestRoleToken, type AgentKeys, type RoleCredentials } from '../harness/agent-wire.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

const REGION = 'us-east-1';
const FINGERPRINT = '9f1a3c2e-6b7d-4e8f-a1b2-c3d4e5f60718';
let emulator: SsmEmulator;
let keys: AgentKeys;
let instanceId: string;

before(async () => {
  emulator = await startSsmEmulator({ region: REGION });
});
after(async () => {
  await emulator.stop();
});

beforeEach(async () => {
  emulator.state.reset();
  emulator.faults.clear();
  const activation = emulator.state.newActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate: new Date(Date.now() + 86_400_000), tags: [] });
  keys = newAgentKeys();
  const r = await registerAnonymously(emulator.url, { activationId: activation.activationId, activationCode: activation.activationCode, publicKey: keys.publicKey, fingerprint: FINGERPRINT });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  instanceId = String(r.body.InstanceId);
});

const credsOf = (body: Record<string, unknown>): RoleCredentials => ({
  accessKeyId: String(body.AccessKeyId),
  secretAccessKey: String(body.SecretAccessKey),
  sessionToken: String(body.SessionToken),
});

test('a registered instance is not Online until it pings', () => {
  assert.equal(emulator.state.pingStatus(emulator.state.instance(instanceId) ?? {}), 'ConnectionLost');
});

test('the role token: signed with the registration key, it returns temporary credentials of the role', async () => {
  const r = await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, FINGERPRINT);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(String(r.body.AccessKeyId), /^ASIA[0-9A-F]{16}$/);
  assert.ok(String(r.body.SessionToken).length > 100);
  assert.equal(r.body.UpdateKeyPair, false);
  const expires = Number(r.body.TokenExpirationDate) * 1000;
  assert.ok(expires > emulator.clock.now().getTime());
  const call = emulator.state.callsTo('RequestManagedInstanceRoleToken').at(-1);
  assert.equal(call?.accessKeyId, instanceId);
});

test('the role token: another key, a tampered request, another fingerprint or an unknown instance are refused', async () => {
  const other = newAgentKeys();
  const wrongKey = await requestRoleToken(emulator.url, REGION, instanceId, other.privateKey, FINGERPRINT);
  assert.equal(wrongKey.status, 400);
  assert.equal(wrongKey.body.__type, 'InvalidSignatureException');
  const unknown = await requestRoleToken(emulator.url, REGION, 'mi-0123456789abcdef0', keys.privateKey, FINGERPRINT);
  assert.equal(unknown.body.__type, 'UnrecognizedClientException');
  const skewed = await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, FINGERPRINT, new Date(Date.now() - 20 * 60_000));
  assert.equal(skewed.body.__type, 'InvalidSignatureException');
  const otherMachine = await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, 'another-fingerprint');
  assert.equal(otherMachine.body.__type, 'MachineFingerprintDoesNotMatch');
});

test('the ping (UpdateInstanceInformation with the role credentials) makes the instance Online with what it reports', async () => {
  const token = await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, FINGERPRINT);
  const creds = credsOf(token.body);
  const r = await ping(emulator.url, REGION, creds, { InstanceId: instanceId, AgentVersion: '3.3.1142.0', PlatformName: 'Debian GNU/Linux', ComputerName: 'node-1' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const i = emulator.state.instance(instanceId);
  assert.equal(emulator.state.pingStatus(i ?? {}), 'Online');
  assert.equal(i?.agentVersion, '3.3.1142.0');
  assert.equal(i?.computerName, 'node-1');

  const noToken = await ping(emulator.url, REGION, { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey }, { InstanceId: instanceId });
  assert.equal(noToken.body.__type, 'UnrecognizedClientException');
  const forOther = await ping(emulator.url, REGION, creds, { InstanceId: 'mi-0123456789abcdef0' });
  assert.equal(forOther.body.__type, 'AccessDeniedException');
  // the emulator's IAM key is not the instance's
  const iam = await ping(emulator.url, REGION, emulator.credentials, { InstanceId: instanceId });
  assert.equal(iam.body.__type, 'AccessDeniedException');
});

test('role credentials expire by the emulator clock', async () => {
  const creds = credsOf((await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, FINGERPRINT)).body);
  emulator.clock.advance(61 * 60_000);
  const r = await ping(emulator.url, REGION, creds, { InstanceId: instanceId });
  assert.equal(r.body.__type, 'com.amazon.coral.service#ExpiredTokenException');
  emulator.clock.reset();
});

test('fault switches: AccessDenied and Throttled refuse the role token, Expired refuses its use; off again, it works', async () => {
  emulator.faults.roleToken('AccessDenied');
  const denied = await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, FINGERPRINT);
  assert.equal(denied.status, 400);
  assert.equal(denied.body.__type, 'AccessDeniedException');
  assert.match(String(denied.body.message), /trust policy/);

  emulator.faults.roleToken('Throttled');
  const throttled = await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, FINGERPRINT);
  assert.equal(throttled.body.__type, 'ThrottlingException');

  emulator.faults.roleToken('Expired');
  const issued = await requestRoleToken(emulator.url, REGION, instanceId, keys.privateKey, FINGERPRINT);
  assert.equal(issued.status, 200);
  const expired = await ping(emulator.url, REGION, credsOf(issued.body), { InstanceId: instanceId });
  assert.equal(expired.body.__type, 'com.amazon.coral.service#ExpiredTokenException');

  emulator.faults.roleToken(undefined);
  const ok = await ping(emulator.url, REGION, credsOf(issued.body), { InstanceId: instanceId });
  assert.equal(ok.status, 200);
});
