// The node agent's host steps on a real systemd host (a Debian container booted with systemd-nspawn), through the
// production nsenter adapter. The agent package is the test's stand-in, served from a loopback mirror and signed
// with a throwaway key (AWS's buckets and keys cannot be used here).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { resolveEffectiveConfig } from '../../node-agent/config/mounted-secrets.ts';
import { HostConverger, type PassReport } from '../../node-agent/agent/pass.ts';
import { createAgentPackages } from '../../node-agent/package/agent-packages.ts';
import { freePort } from '../harness/control-plane.ts';
import { createNodeAgentFixture, NO_IMDS, nodeAgentMetrics, PASS_DONE, type FixtureConfigOptions, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { STAND_IN_ACTIVATION_CODES, STAND_IN_PATHS } from '../harness/stand-in-agent.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';

const V1 = '3.3.100.0';
const V2 = '3.3.101.0';
const CORRUPT = '3.3.102.0';

let sys: SystemdHost;
let fx: NodeAgentFixture;
let converger: HostConverger;
/** One pass, with the Secrets read at its start as the node agent does. */
const pass = async (c: NodeAgentConfig) => converger.pass(await resolveEffectiveConfig(c, fx.readSecret));

function config(overrides: Omit<FixtureConfigOptions, 'version'> & { version?: string } = {}): NodeAgentConfig {
  return fx.config({ ...overrides, version: overrides.version ?? V1 });
}

const statusOf = (r: PassReport) => Object.fromEntries(r.outcomes.map((o) => [o.step, o.status]));
const outcome = (r: PassReport, step: string) => r.outcomes.find((o) => o.step === step);
const run = async (argv: string[]) => sys.run(argv);
const mtime = async (path: string) => (await sys.host.stat(path))?.mtimeMs;
const serviceStart = async () => (await run(['systemctl', 'show', '-p', 'ActiveEnterTimestampMonotonic', '--value', 'amazon-ssm-agent'])).stdout.trim();
const registrations = async () => ((await sys.host.readFile(STAND_IN_PATHS.registrationsLog))?.toString('utf8') ?? '').split('\n').filter(Boolean).length;
const setActivationCode = (code: string) => fx.setActivationCode(code);

before(async () => {
  // The mirror (loopback, signed with throwaway keys) and the activation Secret as a directory.
  fx = await createNodeAgentFixture({ versions: [V1, V2, CORRUPT] });
  // Corrupt one byte after signing: the download must be refused and nothing installed.
  const corrupt = fx.debPath(CORRUPT);
  const bytes = readFileSync(corrupt);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
  writeFileSync(corrupt, bytes);
  process.env.SSM_AGENT_SIGNING_KEY_FILE = fx.keyFile;

  sys = await startSystemdHost();
  converger = new HostConverger({
    host: sys.host,
    packages: createAgentPackages({ workDir: join(fx.work, 'downloads') }),
    imdsEndpoint: NO_IMDS,
    registerBackoff: { baseDelayMs: 200, maxDelayMs: 400 },
  });
});

after(async () => {
  await sys?.stop();
  await fx?.close();
  delete process.env.SSM_AGENT_SIGNING_KEY_FILE;
});

test('a fresh host: installed from the mirror, configured, ssm-user with a valid sudoers file, registered', async () => {
  const report = await pass(config());
  assert.deepEqual(statusOf(report), { detect: 'ok', install: 'changed', configure: 'changed', 'ssm-user': 'changed', register: 'changed', observe: 'ok', 'agent-health': 'ok' }, JSON.stringify(report.outcomes));
  assert.equal(report.observation?.version, V1);
  assert.equal(report.observation?.serviceActive, true);
  assert.match(report.observation?.registration?.instanceId ?? '', /^mi-[0-9a-f]{17}$/);
  assert.equal(report.observation?.registration?.region, 'eu-west-1');
  assert.equal((await run(['systemctl', 'is-active', 'amazon-ssm-agent'])).stdout.trim(), 'active');
  assert.equal((await run(['getent', 'passwd', 'ssm-user'])).code, 0);
  assert.equal((await run(['visudo', '-c', '-f', '/etc/sudoers.d/ssm-agent-users'])).code, 0);
  assert.equal((await sys.host.stat('/etc/sudoers.d/ssm-agent-users'))?.mode, 0o440);
  const agentJson = JSON.parse((await sys.host.readFile('/etc/amazon/ssm/amazon-ssm-agent.json'))?.toString('utf8') ?? '{}') as { Agent?: { SelfUpdate?: boolean } };
  assert.equal(agentJson.Agent?.SelfUpdate, false);
  assert.equal(await registrations(), 1);
  assert.equal((await run(['sh', '-c', 'ls /var/lib/ssm-node-agent/*.deb 2>/dev/null | wc -l'])).stdout.trim(), '0', 'the package file is cleaned up');
});

test('a second pass changes nothing: same files, same service start', async () => {
  const paths = ['/etc/amazon/ssm/amazon-ssm-agent.json', '/etc/sudoers.d/ssm-agent-users', STAND_IN_PATHS.registration];
  const before = await Promise.all(paths.map(mtime));
  const started = await serviceStart();
  const report = await pass(config());
  assert.deepEqual(statusOf(report), { detect: 'ok', install: 'ok', configure: 'ok', 'ssm-user': 'ok', register: 'ok', observe: 'ok', 'agent-health': 'ok' }, JSON.stringify(report.outcomes));
  assert.deepEqual(await Promise.all(paths.map(mtime)), before);
  assert.equal(await serviceStart(), started);
});

test('a proxy writes the lowercase drop-in and restarts the agent once; removing it removes the drop-in', async () => {
  const started = await serviceStart();
  const withProxy = await pass(config({ httpsProxy: 'http://proxy.corp:3128' }));
  assert.equal(outcome(withProxy, 'configure')?.status, 'changed');
  const env = (await run(['systemctl', 'show', '-p', 'Environment', '--value', 'amazon-ssm-agent'])).stdout;
  assert.match(env, /https_proxy=http:\/\/proxy\.corp:3128/);
  assert.match(env, /no_proxy=\.corp,169\.254\.169\.254/);
  assert.notEqual(await serviceStart(), started, 'restarted to take the proxy');
  const restarted = await serviceStart();
  assert.equal(outcome(await pass(config({ httpsProxy: 'http://proxy.corp:3128' })), 'configure')?.status, 'ok');
  assert.equal(await serviceStart(), restarted, 'not restarted again');
  assert.equal(outcome(await pass(config()), 'configure')?.status, 'changed');
  assert.equal(await sys.host.stat('/etc/systemd/system/amazon-ssm-agent.service.d/ssm-agent-operator-proxy.conf'), undefined);
});

test('a proxy Secret value with a newline is a step failure; no directive reaches the drop-in, nothing runs on restart', async () => {
  const dropIn = '/etc/systemd/system/amazon-ssm-agent.service.d/ssm-agent-operator-proxy.conf';
  const secretDir = join(fx.work, 'proxy-secret');
  mkdirSync(secretDir, { recursive: true });
  const withSecret = (): NodeAgentConfig => {
    const c = config();
    return { ...c, proxy: { noProxy: c.proxy.noProxy, secretDir, secretName: 'corp-proxy' } };
  };
  try {
    // A good Secret first: its drop-in must survive the bad value that follows.
    writeFileSync(join(secretDir, 'httpsProxy'), 'http://user:pw@proxy.corp:3128\n');
    assert.equal(outcome(await pass(withSecret()), 'configure')?.status, 'changed');
    const good = (await sys.host.readFile(dropIn))?.toString('utf8');
    assert.match(good ?? '', /https_proxy=http:\/\/user:pw@proxy\.corp:3128/);

    writeFileSync(join(secretDir, 'httpsProxy'), 'http://p:3128\nExecStartPre=/bin/touch /pwned');
    const report = await pass(withSecret());
    const configure = outcome(report, 'configure');
    assert.equal(configure?.status, 'failed', JSON.stringify(report.outcomes));
    assert.equal(configure?.reason, 'ProxySecretInvalid');
    assert.match(configure?.message ?? '', /key httpsProxy of Secret corp-proxy contains a control character/);
    assert.equal((await sys.host.readFile(dropIn))?.toString('utf8'), good, 'the drop-in is neither rewritten nor removed');

    // Whatever restarts the agent next (a reboot, an admin) runs no injected command.
    assert.equal((await run(['systemctl', 'daemon-reload'])).code, 0);
    assert.equal((await run(['systemctl', 'restart', 'amazon-ssm-agent'])).code, 0);
    assert.equal(await sys.host.stat('/pwned'), undefined, 'no /pwned');
    const execStartPre = (await run(['systemctl', 'show', '-p', 'ExecStartPre', '--value', 'amazon-ssm-agent'])).stdout;
    assert.doesNotMatch(execStartPre, /pwned/);
    assert.doesNotMatch((await sys.host.readFile(dropIn))?.toString('utf8') ?? '', /ExecStartPre/);
  } finally {
    rmSync(secretDir, { recursive: true, force: true });
    await run(['rm', '-f', '/pwned']);
    await pass(config());
  }
  assert.equal(await sys.host.stat(dropIn), undefined, 'back to no proxy');
});

test('a version bump upgrades the agent and keeps the registration', async () => {
  const instance = (await pass(config())).observation?.registration?.instanceId;
  const report = await pass(config({ version: V2 }));
  assert.equal(outcome(report, 'install')?.status, 'changed');
  assert.equal(report.observation?.version, V2);
  assert.equal(report.observation?.registration?.instanceId, instance);
  assert.equal(await registrations(), 1);
});

test('a corrupted download is refused with a clear reason and nothing is installed or left behind', async () => {
  const report = await pass(config({ version: CORRUPT }));
  const install = outcome(report, 'install');
  assert.equal(install?.status, 'failed');
  assert.equal(install?.reason, 'SignatureInvalid');
  assert.match(install?.message ?? '', /signature/i);
  assert.equal(report.observation?.version, V2, 'the previous version still runs');
  assert.equal((await run(['systemctl', 'is-active', 'amazon-ssm-agent'])).stdout.trim(), 'active');
  assert.equal((await run(['sh', '-c', 'ls -A /var/lib/ssm-node-agent | grep -c "\\.deb" || true'])).stdout.trim(), '0');
});

test('the node agent process restarted 20 times registers the host exactly once', async () => {
  const configFile = join(fx.work, 'config.json');
  writeFileSync(configFile, JSON.stringify(config({ version: V2 })));
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    const proc = fx.startNodeAgent({
      name: `node-agent-${i}`,
      logPath: join(fx.work, 'node-agent.log'),
      hostPid: sys.pid,
      configFile,
      metricsPort: port,
      passIntervalSeconds: 3600,
    });
    try {
      const metrics = await waitFor(
        `pass ${i} of the node agent`,
        async () => {
          const text = await nodeAgentMetrics(port);
          return PASS_DONE.test(text) ? text : undefined;
        },
        60_000,
        100,
      );
      assert.match(metrics, /^ssm_agent_registered 1$/m);
      assert.match(metrics, /^ssm_agent_up 1$/m);
    } finally {
      await proc.stop(10_000);
    }
  }
  assert.equal(await registrations(), 1);
});

test('registration failures are mapped to reasons, back off, and never show the activation code', async () => {
  await sys.host.removeFile(STAND_IN_PATHS.registration);
  setActivationCode(STAND_IN_ACTIVATION_CODES.expired);
  const failed = await pass(config({ version: V2 }));
  const register = outcome(failed, 'register');
  assert.equal(register?.status, 'failed');
  assert.equal(register?.reason, 'ActivationExpired');
  assert.doesNotMatch(JSON.stringify(failed), new RegExp(STAND_IN_ACTIVATION_CODES.expired));
  setActivationCode(STAND_IN_ACTIVATION_CODES.invalid);
  await new Promise((r) => setTimeout(r, 500)); // past the (test-sized) backoff
  assert.equal(outcome(await pass(config({ version: V2 })), 'register')?.reason, 'InvalidActivation');
  setActivationCode(STAND_IN_ACTIVATION_CODES.limitExceeded);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(outcome(await pass(config({ version: V2 })), 'register')?.reason, 'RegistrationLimitExceeded');
  setActivationCode(STAND_IN_ACTIVATION_CODES.ok);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(outcome(await pass(config({ version: V2 })), 'register')?.status, 'changed');
  assert.equal(await registrations(), 2);
});

test('sudo: false removes the sudoers file and keeps ssm-user', async () => {
  const report = await pass(config({ version: V2, sudo: false }));
  assert.equal(outcome(report, 'ssm-user')?.status, 'changed');
  assert.equal(await sys.host.stat('/etc/sudoers.d/ssm-agent-users'), undefined);
  assert.equal((await run(['getent', 'passwd', 'ssm-user'])).code, 0);
});

test('uninstall removes the package and the registration, keeps ssm-user, and is idempotent', async () => {
  const report = await pass(config({ version: V2, action: 'Uninstall' }));
  assert.equal(outcome(report, 'uninstall')?.status, 'changed', JSON.stringify(report.outcomes));
  assert.notEqual((await run(['dpkg-query', '-W', 'amazon-ssm-agent'])).stdout.includes(V2), true);
  assert.equal(await sys.host.stat(STAND_IN_PATHS.registration), undefined);
  assert.equal(await sys.host.stat('/var/lib/amazon/ssm'), undefined);
  assert.equal((await run(['getent', 'passwd', 'ssm-user'])).code, 0);
  assert.equal(report.observation?.version, undefined);
  assert.equal(outcome(await pass(config({ version: V2, action: 'Uninstall' })), 'uninstall')?.status, 'ok');
});

test('an immutable OS is reported as unsupported, with advice, and nothing is attempted', async () => {
  await sys.host.writeFileAtomic('/etc/os-release', 'NAME=Bottlerocket\nID=bottlerocket\nPRETTY_NAME="Bottlerocket OS 1.20"\n', 0o644);
  try {
    const report = await pass(config({ version: V2 }));
    assert.deepEqual(report.outcomes.map((o) => [o.step, o.status, o.reason]), [['detect', 'unsupported', 'ImmutableOS']]);
    assert.match(report.outcomes[0]?.message ?? '', /control container/);
  } finally {
    await run(['ln', '-sf', '../usr/lib/os-release', '/etc/os-release']); // Debian's own layout
  }
});
