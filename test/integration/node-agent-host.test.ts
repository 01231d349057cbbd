// The node agent's host steps on a real systemd host (a Debian container booted with systemd-nspawn), through the
// production nsenter adapter. The agent package is the test's stand-in, served from a loopback mirror and signed
// with a throwaway key (AWS's buckets and keys cannot be used here).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { HostConverger, type PassReport } from '../../node-agent/agent/pass.ts';
import { createAgentPackages } from '../../node-agent/package/agent-packages.ts';
import { freePort } from '../harness/control-plane.ts';
import { startProcess } from '../harness/managed-process.ts';
import { REPO } from '../harness/operator-env.ts';
import { buildStandInDeb, signStandIn, STAND_IN_ACTIVATION_CODES, STAND_IN_PATHS } from '../harness/stand-in-agent.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';
import { sampleConfig } from '../fixtures/configs.ts';

const V1 = '3.3.100.0';
const V2 = '3.3.101.0';
const CORRUPT = '3.3.102.0';

let sys: SystemdHost;
let work: string;
let mirror: Server;
let mirrorUrl: string;
let activationDir: string;
let converger: HostConverger;
let keyFile: string;

function config(overrides: { version?: string; sudo?: boolean; httpsProxy?: string; action?: 'Manage' | 'Uninstall' } = {}): NodeAgentConfig {
  const rendered = renderNodeAgentConfig(
    sampleConfig('node-agent-test', {
      region: 'eu-west-1',
      agent: { version: overrides.version ?? V1, source: { mirror: mirrorUrl }, verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' },
      registration: { mode: 'Hybrid', activation: { secretRef: { name: 'act' } }, deregisterOnNodeDelete: true },
      ssmUser: { create: true, sudo: overrides.sudo ?? true },
      ...(overrides.httpsProxy ? { proxy: { httpsProxy: overrides.httpsProxy, noProxy: ['.corp'] } } : {}),
    }),
  );
  // The Secret is mounted at a fixed path in the pod; here it is a temporary directory.
  return { ...rendered, registration: { ...rendered.registration, activationDir }, action: overrides.action ?? 'Manage' };
}

const statusOf = (r: PassReport) => Object.fromEntries(r.outcomes.map((o) => [o.step, o.status]));
const outcome = (r: PassReport, step: string) => r.outcomes.find((o) => o.step === step);
const run = async (argv: string[]) => sys.run(argv);
const mtime = async (path: string) => (await sys.host.stat(path))?.mtimeMs;
const serviceStart = async () => (await run(['systemctl', 'show', '-p', 'ActiveEnterTimestampMonotonic', '--value', 'amazon-ssm-agent'])).stdout.trim();
const registrations = async () => ((await sys.host.readFile(STAND_IN_PATHS.registrationsLog))?.toString('utf8') ?? '').split('\n').filter(Boolean).length;
const setActivationCode = (code: string) => writeFileSync(join(activationDir, 'activationCode'), code);

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-node-agent-test-'));
  activationDir = join(work, 'activation');
  mkdirSync(activationDir);
  writeFileSync(join(activationDir, 'activationId'), '11111111-2222-3333-4444-555555555555');
  setActivationCode(STAND_IN_ACTIVATION_CODES.ok);
  // A mirror with the bucket's layout: {version}/debian_amd64/amazon-ssm-agent.deb(.sig)
  const keys: string[] = [];
  for (const version of [V1, V2, CORRUPT]) {
    const dir = join(work, 'mirror', version, 'debian_amd64');
    mkdirSync(dir, { recursive: true });
    const deb = await buildStandInDeb({ version, outDir: join(work, 'build', version) });
    copyFileSync(deb, join(dir, 'amazon-ssm-agent.deb'));
    keys.push(await signStandIn(join(dir, 'amazon-ssm-agent.deb')));
  }
  // Corrupt one byte after signing: the download must be refused and nothing installed.
  const corrupt = join(work, 'mirror', CORRUPT, 'debian_amd64', 'amazon-ssm-agent.deb');
  const bytes = readFileSync(corrupt);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] ?? 0) ^ 0xff;
  writeFileSync(corrupt, bytes);
  keyFile = join(work, 'signing-keys.asc');
  writeFileSync(keyFile, keys.join('\n'));
  process.env.SSM_AGENT_SIGNING_KEY_FILE = keyFile;

  mirror = createServer((req, res) => {
    try {
      res.end(readFileSync(join(work, 'mirror', decodeURIComponent((req.url ?? '/').replace(/^\/mirror\//, '')))));
    } catch {
      res.writeHead(404).end();
    }
  });
  const port = await freePort();
  await new Promise<void>((r) => mirror.listen(port, '127.0.0.1', r));
  mirrorUrl = `http://127.0.0.1:${port}/mirror`;

  sys = await startSystemdHost();
  const readSecret = (dir: string, key: string) => Promise.resolve((() => { try { return readFileSync(join(dir, key), 'utf8'); } catch { return undefined; } })());
  converger = new HostConverger({
    host: sys.host,
    packages: createAgentPackages({ readSecret, workDir: join(work, 'downloads') }),
    imdsEndpoint: 'http://127.0.0.1:9', // nothing listens: not an EC2 instance
    readSecret,
    registerBackoff: { baseDelayMs: 200, maxDelayMs: 400 },
  });
});

after(async () => {
  await sys?.stop();
  await new Promise<void>((r) => (mirror ? mirror.close(() => r()) : r()));
  delete process.env.SSM_AGENT_SIGNING_KEY_FILE;
  rmSync(work, { recursive: true, force: true });
});

test('a fresh host: installed from the mirror, configured, ssm-user with a valid sudoers file, registered', async () => {
  const report = await converger.pass(config());
  assert.deepEqual(statusOf(report), { detect: 'ok', install: 'changed', configure: 'changed', 'ssm-user': 'changed', register: 'changed', observe: 'ok' }, JSON.stringify(report.outcomes));
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
  const report = await converger.pass(config());
  assert.deepEqual(statusOf(report), { detect: 'ok', install: 'ok', configure: 'ok', 'ssm-user': 'ok', register: 'ok', observe: 'ok' }, JSON.stringify(report.outcomes));
  assert.deepEqual(await Promise.all(paths.map(mtime)), before);
  assert.equal(await serviceStart(), started);
});

test('a proxy writes the lowercase drop-in and restarts the agent once; removing it removes the drop-in', async () => {
  const started = await serviceStart();
  const withProxy = await converger.pass(config({ httpsProxy: 'http://proxy.corp:3128' }));
  assert.equal(outcome(withProxy, 'configure')?.status, 'changed');
  const env = (await run(['systemctl', 'show', '-p', 'Environment', '--value', 'amazon-ssm-agent'])).stdout;
  assert.match(env, /https_proxy=http:\/\/proxy\.corp:3128/);
  assert.match(env, /no_proxy=\.corp,169\.254\.169\.254/);
  assert.notEqual(await serviceStart(), started, 'restarted to take the proxy');
  const restarted = await serviceStart();
  assert.equal(outcome(await converger.pass(config({ httpsProxy: 'http://proxy.corp:3128' })), 'configure')?.status, 'ok');
  assert.equal(await serviceStart(), restarted, 'not restarted again');
  assert.equal(outcome(await converger.pass(config()), 'configure')?.status, 'changed');
  assert.equal(await sys.host.stat('/etc/systemd/system/amazon-ssm-agent.service.d/ssm-agent-operator-proxy.conf'), undefined);
});

test('a version bump upgrades the agent and keeps the registration', async () => {
  const instance = (await converger.pass(config())).observation?.registration?.instanceId;
  const report = await converger.pass(config({ version: V2 }));
  assert.equal(outcome(report, 'install')?.status, 'changed');
  assert.equal(report.observation?.version, V2);
  assert.equal(report.observation?.registration?.instanceId, instance);
  assert.equal(await registrations(), 1);
});

test('a corrupted download is refused with a clear reason and nothing is installed or left behind', async () => {
  const report = await converger.pass(config({ version: CORRUPT }));
  const install = outcome(report, 'install');
  assert.equal(install?.status, 'failed');
  assert.equal(install?.reason, 'SignatureInvalid');
  assert.match(install?.message ?? '', /signature/i);
  assert.equal(report.observation?.version, V2, 'the previous version still runs');
  assert.equal((await run(['systemctl', 'is-active', 'amazon-ssm-agent'])).stdout.trim(), 'active');
  assert.equal((await run(['sh', '-c', 'ls -A /var/lib/ssm-node-agent | grep -c "\\.deb" || true'])).stdout.trim(), '0');
});

test('the node agent process restarted 20 times registers the host exactly once', async () => {
  const configFile = join(work, 'config.json');
  writeFileSync(configFile, JSON.stringify(config({ version: V2 })));
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    const proc = startProcess({
      name: `node-agent-${i}`,
      command: process.execPath,
      args: [join(REPO, 'node-agent', 'main.ts')],
      logPath: join(work, 'node-agent.log'),
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        HOST_PID: String(sys.pid),
        CONFIG_FILE: configFile,
        METRICS_PORT: String(port),
        PASS_INTERVAL_SECONDS: '3600',
        IMDS_ENDPOINT: 'http://127.0.0.1:9',
        SSM_AGENT_SIGNING_KEY_FILE: keyFile,
        NODE_NAME: 'test-node',
        LOG_LEVEL: 'warn',
      },
    });
    try {
      const metrics = await waitFor(
        `pass ${i} of the node agent`,
        async () => {
          const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return /^ssm_node_agent_last_pass_timestamp_seconds [1-9]/m.test(text) ? text : undefined;
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
  const failed = await converger.pass(config({ version: V2 }));
  const register = outcome(failed, 'register');
  assert.equal(register?.status, 'failed');
  assert.equal(register?.reason, 'ActivationExpired');
  assert.doesNotMatch(JSON.stringify(failed), new RegExp(STAND_IN_ACTIVATION_CODES.expired));
  setActivationCode(STAND_IN_ACTIVATION_CODES.invalid);
  await new Promise((r) => setTimeout(r, 500)); // past the (test-sized) backoff
  assert.equal(outcome(await converger.pass(config({ version: V2 })), 'register')?.reason, 'InvalidActivation');
  setActivationCode(STAND_IN_ACTIVATION_CODES.limitExceeded);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(outcome(await converger.pass(config({ version: V2 })), 'register')?.reason, 'RegistrationLimitExceeded');
  setActivationCode(STAND_IN_ACTIVATION_CODES.ok);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(outcome(await converger.pass(config({ version: V2 })), 'register')?.status, 'changed');
  assert.equal(await registrations(), 2);
});

test('sudo: false removes the sudoers file and keeps ssm-user', async () => {
  const report = await converger.pass(config({ version: V2, sudo: false }));
  assert.equal(outcome(report, 'ssm-user')?.status, 'changed');
  assert.equal(await sys.host.stat('/etc/sudoers.d/ssm-agent-users'), undefined);
  assert.equal((await run(['getent', 'passwd', 'ssm-user'])).code, 0);
});

test('uninstall removes the package and the registration, keeps ssm-user, and is idempotent', async () => {
  const report = await converger.pass(config({ version: V2, action: 'Uninstall' }));
  assert.equal(outcome(report, 'uninstall')?.status, 'changed', JSON.stringify(report.outcomes));
  assert.notEqual((await run(['dpkg-query', '-W', 'amazon-ssm-agent'])).stdout.includes(V2), true);
  assert.equal(await sys.host.stat(STAND_IN_PATHS.registration), undefined);
  assert.equal(await sys.host.stat('/var/lib/amazon/ssm'), undefined);
  assert.equal((await run(['getent', 'passwd', 'ssm-user'])).code, 0);
  assert.equal(report.observation?.version, undefined);
  assert.equal(outcome(await converger.pass(config({ version: V2, action: 'Uninstall' })), 'uninstall')?.status, 'ok');
});

test('an immutable OS is reported as unsupported, with advice, and nothing is attempted', async () => {
  await sys.host.writeFileAtomic('/etc/os-release', 'NAME=Bottlerocket\nID=bottlerocket\nPRETTY_NAME="Bottlerocket OS 1.20"\n', 0o644);
  try {
    const report = await converger.pass(config({ version: V2 }));
    assert.deepEqual(report.outcomes.map((o) => [o.step, o.status, o.reason]), [['detect', 'unsupported', 'ImmutableOS']]);
    assert.match(report.outcomes[0]?.message ?? '', /control container/);
  } finally {
    await run(['ln', '-sf', '../usr/lib/os-release', '/etc/os-release']); // Debian's own layout
  }
});
