// Issue 14 on a real systemd host, with the stand-in agent talking to the SSM emulator: the node agent knows what
// the agent knows. Unregistered (hybrid without an activation) the agent-health step says IdentityMissing, not
// "service down"; registered but denied its role credentials, the node fails with CredentialsUnavailable naming
// the AWS error within one pass after the agent said so; allowed again it recovers, and the emulator shows it
// Online from its own pings. Then an Uninstall leaves the host's file list as it was, except ssm-user.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createNodeAgentMetrics, recordPass } from '../../node-agent/agent/metrics.ts';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { resolveEffectiveConfig } from '../../node-agent/config/mounted-secrets.ts';
import { HostConverger, type PassReport } from '../../node-agent/agent/pass.ts';
import { createAgentPackages } from '../../node-agent/package/agent-packages.ts';
import { createNodeAgentFixture, NO_IMDS, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { configureStandIn, STAND_IN_PATHS } from '../harness/stand-in-agent.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

const VERSION = '3.3.1142.0';
let sys: SystemdHost;
let fx: NodeAgentFixture;
let emulator: SsmEmulator;
let converger: HostConverger;
/** One pass, with the Secrets read at its start as the node agent does. */
const pass = async (c: NodeAgentConfig) => converger.pass(await resolveEffectiveConfig(c, fx.readSecret));
let filesBefore: string[];

const outcome = (r: PassReport, step: string) => r.outcomes.find((o) => o.step === step);
const agentLog = async () => (await sys.host.readFile(STAND_IN_PATHS.agentLog))?.toString('utf8') ?? '';
const config = (action: 'Manage' | 'Uninstall' = 'Manage') => fx.config({ version: VERSION, action });

/** Every path on the host's root filesystem but the volatile ones (the kernel's, systemd's runtime state, caches). */
async function hostFiles(): Promise<string[]> {
  const pruned = ['/proc', '/sys', '/dev', '/run', '/tmp', '/var/tmp', '/var/log/journal', '/var/cache', '/var/lib/systemd'];
  const prune = pruned.flatMap((p, i) => [...(i ? ['-o'] : []), '-path', p]);
  const r = await sys.run(['find', '/', '-xdev', '(', ...prune, ')', '-prune', '-o', '-print']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** What an Uninstall documents as kept: ssm-user (its account entries, the shadow tools' backups, its home). */
// Kept on purpose (README, "Uninstall"): ssm-user, and the package manager's own history of the install and removal
// (dpkg's log and backup files; a real host has /var/log/dpkg.log already, the test root was built without one).
const KEPT = [
  /^\/home\/ssm-user(\/|$)/,
  /^\/etc\/(passwd|group|shadow|gshadow|subuid|subgid)-?$/,
  /^\/var\/mail\/ssm-user$/,
  /^\/var\/lib\/dpkg\/[^/]+-old$/,
  /^\/var\/log\/dpkg\.log$/,
];

before(async () => {
  fx = await createNodeAgentFixture({ versions: [VERSION], tempPrefix: 'ssm-agent-health-' });
  process.env.SSM_AGENT_SIGNING_KEY_FILE = fx.keyFile;
  emulator = await startSsmEmulator({ region: 'eu-west-1' });
  sys = await startSystemdHost({ name: 'ssm-agent-health' });
  filesBefore = await hostFiles();
  await configureStandIn(sys.host, { emulatorUrl: emulator.url, pingSeconds: 2, retrySeconds: 2, clientTimeoutSeconds: 10 });
  converger = new HostConverger({
    host: sys.host,
    packages: createAgentPackages({ workDir: join(fx.work, 'downloads') }),
    imdsEndpoint: NO_IMDS,
    registerBackoff: { baseDelayMs: 200, maxDelayMs: 400 },
  });
});

after(async () => {
  await sys?.stop();
  await emulator?.stop();
  await fx?.close();
  delete process.env.SSM_AGENT_SIGNING_KEY_FILE;
});

test('hybrid without an activation: the agent has no identity, and the node agent says IdentityMissing', async () => {
  rmSync(join(fx.activationDir, 'activationCode'), { force: true });
  const first = await pass(config());
  assert.equal(outcome(first, 'install')?.status, 'changed', JSON.stringify(first.outcomes));
  assert.equal(outcome(first, 'register')?.reason, 'ActivationMissing');
  await waitFor('the agent to log that it has no identity', async () => /failed to get identity/.test(await agentLog()), 60_000, 250);
  const second = await pass(config());
  const health = outcome(second, 'agent-health');
  assert.equal(health?.status, 'failed', JSON.stringify(second.outcomes));
  assert.equal(health?.reason, 'IdentityMissing');
  assert.match(health?.message ?? '', /no identity/);
  const m = createNodeAgentMetrics();
  recordPass(m, second, 'Hybrid');
  const text = await m.registry.metrics();
  assert.match(text, /^ssm_agent_healthy 0$/m);
  assert.match(text, /^ssm_agent_health_problem\{reason="IdentityMissing",code=""\} 1$/m);
});

test('registered but denied its role credentials: CredentialsUnavailable with the AWS error; allowed again, it recovers and is Online from its own pings', async () => {
  const a = emulator.state.newActivation({ iamRole: 'SSMServiceRole', registrationLimit: 5, expirationDate: new Date(Date.now() + 86_400_000), tags: [] });
  writeFileSync(join(fx.activationDir, 'activationId'), a.activationId);
  writeFileSync(join(fx.activationDir, 'activationCode'), a.activationCode);
  emulator.faults.roleToken('AccessDenied');
  const registering = await pass(config());
  assert.equal(outcome(registering, 'register')?.status, 'changed', JSON.stringify(registering.outcomes));
  const id = registering.observation?.registration?.instanceId ?? '';
  assert.ok(emulator.state.instance(id), 'registered with the emulator');
  await waitFor('the agent to log the denied role token', async () => /Retrieve credentials produced error: AccessDeniedException/.test(await agentLog()), 60_000, 250);
  const denied = await pass(config());
  const health = outcome(denied, 'agent-health');
  assert.equal(health?.status, 'failed', JSON.stringify(denied.outcomes));
  assert.equal(health?.reason, 'CredentialsUnavailable');
  assert.match(health?.message ?? '', /AccessDeniedException/);
  assert.match(health?.message ?? '', /trust policy/);
  assert.equal(denied.observation?.serviceActive, true, 'the service runs; it is useless');
  assert.equal(emulator.state.pingStatus(emulator.state.instance(id) ?? {}), 'ConnectionLost', 'no ping without credentials');

  emulator.faults.roleToken(undefined);
  await waitFor('the agent to ping', () => emulator.state.pingStatus(emulator.state.instance(id) ?? {}) === 'Online', 60_000, 250);
  const recovered = await pass(config());
  assert.equal(outcome(recovered, 'agent-health')?.status, 'ok', JSON.stringify(recovered.outcomes));
});

test('uninstall leaves the host\'s file list as it was, apart from ssm-user', async () => {
  const report = await pass(config('Uninstall'));
  assert.equal(outcome(report, 'uninstall')?.status, 'changed', JSON.stringify(report.outcomes));
  assert.equal(outcome(report, 'agent-health'), undefined, 'no health step in an Uninstall pass');
  const filesAfter = await hostFiles();
  const before = new Set(filesBefore);
  const after = new Set(filesAfter);
  const added = filesAfter.filter((f) => !before.has(f) && !KEPT.some((k) => k.test(f)));
  const removed = filesBefore.filter((f) => !after.has(f));
  assert.deepEqual(added, [], 'left behind');
  assert.deepEqual(removed, [], 'removed what was there before');
  assert.ok(filesAfter.some((f) => f === '/home/ssm-user'), 'ssm-user is kept (documented)');
  assert.equal(outcome(await pass(config('Uninstall')), 'uninstall')?.status, 'ok');
});
