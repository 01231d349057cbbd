// The emulator's holds, over HTTP: a call held `before` the service acts and abandoned by its client is never run;
// one held `after` has run (its effect is there) while its answer waits for the release.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

let emulator: SsmEmulator;

function register(signal?: AbortSignal): Promise<Response> {
  const a = emulator.state.newActivation({ iamRole: 'SSMServiceRole', registrationLimit: 1, expirationDate: new Date(Date.now() + 86_400_000), tags: [] });
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return fetch(emulator.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.RegisterManagedInstance' },
    body: JSON.stringify({ ActivationCode: a.activationCode, ActivationId: a.activationId, PublicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), PublicKeyType: 'Rsa', Fingerprint: 'holds' }),
    ...(signal ? { signal } : {}),
  });
}

before(async () => {
  emulator = await startSsmEmulator();
});
after(async () => {
  await emulator?.stop();
});

test('held before the service acts, a call whose client went away is never run', async () => {
  const hold = emulator.faults.hold('RegisterManagedInstance', 'before');
  const abort = new AbortController();
  const call = register(abort.signal).catch((err: unknown) => err);
  await hold.reached;
  abort.abort();
  assert.ok((await call) instanceof Error);
  await new Promise((r) => setTimeout(r, 100)); // the server sees the connection close
  hold.release();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(emulator.state.instanceMap.size, 0);
  assert.equal(emulator.state.callsTo('RegisterManagedInstance').length, 0, 'the service never saw it');
});

test('held after the service acted, the effect is there while the answer waits', async () => {
  const hold = emulator.faults.hold('RegisterManagedInstance', 'after');
  let answered = false;
  const call = register().then((res) => {
    answered = true;
    return res;
  });
  await hold.reached;
  assert.equal(emulator.state.instanceMap.size, 1, 'registered');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(answered, false, 'the answer is held');
  hold.release();
  const res = await call;
  assert.equal(res.status, 200);
  assert.match(((await res.json()) as { InstanceId: string }).InstanceId, /^mi-/);
  // a hold takes one call: the next one is not held
  assert.equal((await register()).status, 200);
});
