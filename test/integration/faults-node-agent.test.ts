// Faults around the node agent on a real systemd host: the node-agent process is SIGKILLed with everything it
// started (as a container runtime kills a pod) in the middle of `dpkg -i` (the stand-in package's postinst pauses
// there) and in the middle of `-register` (the SSM emulator holds the RegisterManagedInstance call). The next node
// agent must repair the host and converge with exactly one registration: one mi- id for the host in SSM.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { freePort } from '../harness/control-plane.ts';
import type { ManagedProcess } from '../harness/managed-process.ts';
import { createNodeAgentFixture, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { killTree } from '../harness/process-tree.ts';
import { configureStandIn, STAND_IN_PATHS } from '../harness/stand-in-agent.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';
import { startSsmEmulator, type ActivationRecord, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

const VERSION = '3.3.300.0';
const REGION = 'eu-west-1';
const STAND_IN = { pingSeconds: 2, retrySeconds: 2, clientTimeoutSeconds: 20, registerAttempts: 3 };

let sys: SystemdHost;
let fx: NodeAgentFixture;
let emulator: SsmEmulator;
let activation: ActivationRecord;
let port: number;
let configFile: string;
let agent: ManagedProcess | undefined;
let started = 0;

function startAgent(): ManagedProcess {
  const name = `node-agent-${++started}`;
  agent = fx.startNodeAgent({ name, logPath: join(fx.work, `${name}.log`), hostPid: sys.pid, configFile, metricsPort: port, passIntervalSeconds: 3, extraEnv: { REVISION: 'faults' } });
  return agent;
}

/** What the container runtime does to a killed pod; returns once the node agent is gone. */
async function sigkillAgent(a: ManagedProcess): Promise<number> {
  const killed = killTree(a.pid);
  const status = await a.exited;
  assert.equal(status.signal, 'SIGKILL');
  return killed.length;
}

async function readyz(): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

const dpkgStatus = async () => (await sys.host.run(['dpkg-query', '-W', '-f=${Version} ${db:Status-Abbrev}', 'amazon-ssm-agent'])).stdout.trim();
const registrationsLogged = async () => ((await sys.host.readFile(STAND_IN_PATHS.registrationsLog))?.toString('utf8') ?? '').split('\n').filter(Boolean).length;
const hostInstanceId = async () => (JSON.parse((await sys.host.readFile(STAND_IN_PATHS.registration))?.toString('utf8') ?? '{}') as { ManagedInstanceID?: string }).ManagedInstanceID;
const instancesInSsm = () => [...emulator.state.instanceMap.values()].filter((i) => i.activationId === activation.activationId).map((i) => i.instanceId);

/** Waits for the node agent to be ready (converged), bounded; fails at once if it exits. */
async function converged(a: ManagedProcess): Promise<string> {
  return waitFor('the node agent ready (host converged)', async () => {
    if (a.exitStatus()) throw new Error(`${a.name} exited`);
    const r = await readyz();
    return r?.status === 200 ? r.body : undefined;
  }, 150_000, 250);
}

/** The host converged with one registration, the one SSM knows, and the service runs. */
async function assertOneRegistration(t: TestContext): Promise<void> {
  const id = await hostInstanceId();
  assert.match(id ?? '', /^mi-/, 'the host is registered');
  assert.deepEqual(instancesInSsm(), [id], 'SSM holds exactly one managed instance for the host: the one it uses');
  assert.equal(await registrationsLogged(), 1, 'one registration');
  assert.equal(await dpkgStatus(), `${VERSION}-1 ii`);
  assert.equal((await sys.run(['systemctl', 'is-active', 'amazon-ssm-agent'])).stdout.trim(), 'active');
  t.diagnostic(`converged: ${id ?? ''}, one registration`);
}

/** Back to an unregistered host (SSM forgets it too), so the next case starts from a fresh registration. */
async function unregister(): Promise<void> {
  await sys.run(['systemctl', 'stop', 'amazon-ssm-agent']);
  const r = await sys.host.run(['amazon-ssm-agent', '-register', '-clear']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // (like the real agent, -clear empties the vault only; a fresh host has no registration file either)
  await sys.host.removeFile(STAND_IN_PATHS.registration);
  await sys.host.removeFile(STAND_IN_PATHS.registrationsLog);
  for (const id of instancesInSsm()) emulator.state.instanceMap.delete(id);
  assert.equal(await hostInstanceId(), undefined);
}

before(async () => {
  emulator = await startSsmEmulator({ region: REGION });
  [fx, sys] = await Promise.all([createNodeAgentFixture({ versions: [VERSION], tempPrefix: 'ssm-faults-node-agent-' }), startSystemdHost({ name: 'ssm-faults-node-agent' })]);
  activation = emulator.state.newActivation({ iamRole: 'SSMServiceRole', registrationLimit: 10, expirationDate: new Date(Date.now() + 86_400_000), tags: [] });
  writeFileSync(join(fx.activationDir, 'activationId'), activation.activationId);
  fx.setActivationCode(activation.activationCode);
  configFile = join(fx.work, 'node-agent.json');
  writeFileSync(configFile, JSON.stringify(fx.config({ version: VERSION })));
  port = await freePort();
});

after(async () => {
  if (agent) killTree(agent.pid);
  await agent?.stop(5_000);
  emulator?.faults.clear();
  await sys?.stop();
  await fx?.close();
  await emulator?.stop();
});

test('SIGKILL during dpkg -i: the next node agent repairs dpkg and converges, one registration', async (t) => {
  await configureStandIn(sys.host, { emulatorUrl: emulator.url, ...STAND_IN, installDelaySeconds: 120 });
  const first = startAgent();
  await waitFor('the package’s postinst to be running', async () => {
    if (first.exitStatus()) throw new Error(`${first.name} exited`);
    return (await sys.host.stat(STAND_IN_PATHS.postinstRunning)) !== undefined || undefined;
  }, 150_000, 100);
  const killed = await sigkillAgent(first);
  t.diagnostic(`killed the node agent and ${killed - 1} processes it started (nsenter, dpkg, the postinst)`);
  assert.equal(await dpkgStatus(), `${VERSION}-1 iF`, 'dpkg was cut short: the package is half-configured');
  assert.equal(instancesInSsm().length, 0, 'not registered yet');

  await configureStandIn(sys.host, { emulatorUrl: emulator.url, ...STAND_IN });
  await sys.host.removeFile(STAND_IN_PATHS.postinstRunning);
  const next = startAgent();
  const body = await converged(next);
  assert.match(body, /converged/);
  await assertOneRegistration(t);
  await next.stop(15_000);
});

test('SIGKILL during -register: the next node agent converges with exactly one registration', async (t) => {
  await unregister();
  // The registration call is held at SSM's front door while the node agent (and its -register) is killed.
  const hold = emulator.faults.hold('RegisterManagedInstance', 'before');
  const first = startAgent();
  let held = false;
  void hold.reached.then(() => (held = true));
  await waitFor('-register to reach SSM', () => {
    if (first.exitStatus()) throw new Error(`${first.name} exited`);
    return held || undefined;
  }, 150_000, 100);
  await sigkillAgent(first);
  hold.release();
  assert.equal(instancesInSsm().length, 0, 'the cut-off call never registered anything');
  assert.equal(await hostInstanceId(), undefined, 'the host has no registration');

  const next = startAgent();
  await converged(next);
  await assertOneRegistration(t);
  await next.stop(15_000);
});
