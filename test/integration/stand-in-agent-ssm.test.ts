// The stand-in amazon-ssm-agent against the SSM emulator, on a real systemd host: it behaves like the real agent
// where the node agent depends on it. Unregistered, its service exits 0 (systemd restarts it 90 s later);
// -register prints config-override lines on stderr, two-line network errors, goes through https_proxy unless
// no_proxy matches, hardens its vault (0600) and writes an InstanceFingerprint; registered, it gets role
// credentials with its registration key and pings, so "Online" comes from its own calls; a denied role token
// shows in its log as the real agent logs it, and it recovers when allowed again.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildStandInDeb, configureStandIn, STAND_IN_PATHS as P } from '../harness/stand-in-agent.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';
import { startTinyproxy, tinyproxyAvailable, type Tinyproxy } from '../servers/tinyproxy.ts';

const VERSION = '3.3.1142.0';
const REGION = 'eu-west-1';

describe('stand-in amazon-ssm-agent against the SSM emulator', { timeout: 600_000 }, () => {
  let dir: string;
  let h: SystemdHost;
  let emulator: SsmEmulator;
  let proxy: Tinyproxy | undefined;

  const activation = () =>
    emulator.state.newActivation({ iamRole: 'SSMServiceRole', registrationLimit: 10, expirationDate: new Date(Date.now() + 86_400_000), tags: [] });
  const register = async (env: Record<string, string> = {}) => {
    const a = activation();
    return h.host.run(['amazon-ssm-agent', '-register', '-y', '-code', a.activationCode, '-id', a.activationId, '-region', REGION], { env, timeoutMs: 300_000 });
  };
  const agentLog = async () => (await h.host.readFile(P.agentLog))?.toString('utf8') ?? '';
  const show = async (prop: string) => (await h.run(['systemctl', 'show', '-p', prop, '--value', 'amazon-ssm-agent'])).stdout.trim();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ssm-stand-in-ssm-'));
    emulator = await startSsmEmulator({ region: REGION });
    const port = Number(new URL(emulator.url).port);
    const [deb, host] = await Promise.all([buildStandInDeb({ version: VERSION, outDir: dir }), startSystemdHost({ name: 'ssm-stand-in-ssm' })]);
    h = host;
    if (tinyproxyAvailable()) proxy = await startTinyproxy({ dir, connectPorts: [port] });
    await configureStandIn(h.host, { emulatorUrl: emulator.url, pingSeconds: 2, retrySeconds: 2, clientTimeoutSeconds: 5, registerAttempts: 3 });
    await h.host.writeFileAtomic('/tmp/amazon-ssm-agent.deb', readFileSync(deb), 0o644);
    const install = await h.run(['dpkg', '-i', '/tmp/amazon-ssm-agent.deb']);
    assert.equal(install.code, 0, install.stdout + install.stderr);
  });

  after(async () => {
    await h?.stop();
    await proxy?.stop();
    await emulator?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('unregistered, the service logs that it has no identity and exits 0; systemd restarts it 90 s later', async () => {
    await waitFor('the unregistered agent to exit', async () => (await show('ActiveState')) === 'activating' && (await show('SubState')) === 'auto-restart', 60_000, 250);
    assert.equal(await show('ExecMainStatus'), '0');
    assert.equal(await show('RestartUSec'), '1min 30s');
    const log = await agentLog();
    assert.match(log, /ERROR \[amazon-ssm-agent\] failed to get identity: failed to find agent identity/);
    assert.match(log, /ERROR Error occurred when starting amazon-ssm-agent: failed to get identity/);
  });

  it('-register prints the config-override lines on stderr, like the real agent (Go log.Printf)', async () => {
    await h.host.writeFileAtomic('/etc/amazon/ssm/amazon-ssm-agent.json', '{"Agent":{"SelfUpdate":false}}\n', 0o644);
    const bad = await h.host.run(['amazon-ssm-agent', '-register', '-y', '-code', 'x'.repeat(20), '-id', '00000000-0000-0000-0000-000000000000', '-region', REGION]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /ERROR Registration failed due to error registering the instance with AWS SSM\. InvalidActivation: /);
    assert.match(bad.stderr, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d Found config file at \/etc\/amazon\/ssm\/amazon-ssm-agent\.json\.$/m);
    assert.match(bad.stderr, /processing appconfig overrides\n$/);
    assert.match(bad.stdout, /^Applying config override from \/etc\/amazon\/ssm\/amazon-ssm-agent\.json\.$/m);
  });

  it('an unreachable endpoint is a two-line network error after 3 attempts', async () => {
    await configureStandIn(h.host, { emulatorUrl: 'http://127.0.0.1:9', pingSeconds: 2, retrySeconds: 2, clientTimeoutSeconds: 5, registerAttempts: 3 });
    const r = await register();
    await configureStandIn(h.host, { emulatorUrl: emulator.url, pingSeconds: 2, retrySeconds: 2, clientTimeoutSeconds: 5, registerAttempts: 3 });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /ERROR Registration failed due to error registering the instance with AWS SSM\. RequestError: send request failed\ncaused by: Post "http:\/\/127\.0\.0\.1:9\/": dial tcp 127\.0\.0\.1:9: connect: connection refused\n/);
  });

  it('-register goes through https_proxy, and direct when no_proxy matches', { skip: !tinyproxyAvailable() && 'no tinyproxy' }, async () => {
    assert.ok(proxy);
    const target = new URL(emulator.url).host;
    const before = proxy.connectTargets().length;
    const direct = await register({ https_proxy: proxy.url, no_proxy: 'example.com,127.0.0.1' });
    assert.equal(direct.code, 0, direct.stdout);
    assert.equal(proxy.connectTargets().length, before, 'no_proxy matched: no CONNECT');
    const proxied = await register({ https_proxy: proxy.url, no_proxy: 'example.com' });
    assert.equal(proxied.code, 0, proxied.stdout);
    assert.ok(proxy.connectTargets().slice(before).includes(target), proxy.log());
    const deadProxy = await register({ https_proxy: 'http://127.0.0.1:9' });
    assert.equal(deadProxy.code, 1);
    assert.match(deadProxy.stdout, /RequestError: send request failed\ncaused by: Post "[^"]+": proxyconnect tcp: dial tcp 127\.0\.0\.1:9: connect: connection refused/);
  });

  it('registers: the vault is hardened (0600 directories and files) and holds the InstanceFingerprint it registered with', async () => {
    const r = await register();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const id = /Managed instance-id: (mi-[0-9a-f]{17})/.exec(r.stdout)?.[1];
    assert.ok(id);
    for (const path of [P.vaultDir, P.vaultStore, P.vaultManifest, P.vaultKey, P.vaultFingerprint]) {
      assert.equal((await h.host.stat(path))?.mode, 0o600, path);
    }
    const fp = JSON.parse((await h.host.readFile(P.vaultFingerprint))?.toString('utf8') ?? '{}') as { fingerprint?: string; similarityThreshold?: number };
    assert.match(fp.fingerprint ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(fp.similarityThreshold, 40);
    assert.equal(emulator.state.instance(id)?.fingerprint, fp.fingerprint);
    const manifest = JSON.parse((await h.host.readFile(P.vaultManifest))?.toString('utf8') ?? '{}') as Record<string, string>;
    assert.deepEqual(Object.keys(manifest).sort(), ['InstanceFingerprint', 'RegistrationKey']);
  });

  it('registered: a denied role token is logged as the real agent logs it; allowed again, it gets credentials and pings (Online from its own calls)', async () => {
    const id = JSON.parse((await h.host.readFile(P.registration))?.toString('utf8') ?? '{}').ManagedInstanceID as string;
    assert.notEqual(emulator.state.pingStatus(emulator.state.instance(id) ?? {}), 'Online');
    emulator.faults.roleToken('AccessDenied');
    await h.run(['systemctl', 'restart', 'amazon-ssm-agent']);
    await waitFor('the denied role token in the agent log', async () => /\[CredentialRefresher\] Retrieve credentials produced error: AccessDeniedException: /.test(await agentLog()), 60_000, 250);
    assert.match(await agentLog(), /\n\tstatus code: 400, request id: [0-9a-f-]{36}\n/);
    assert.equal(await show('ActiveState'), 'active');
    assert.equal(emulator.state.callsTo('UpdateInstanceInformation').length, 0);

    emulator.faults.roleToken(undefined);
    await waitFor('the agent to ping', () => emulator.state.pingStatus(emulator.state.instance(id) ?? {}) === 'Online', 60_000, 250);
    const token = emulator.state.callsTo('RequestManagedInstanceRoleToken').at(-1);
    assert.equal(token?.code, 'OK');
    assert.equal(token?.accessKeyId, id, 'signed with the registration key of this instance');
    const ping = emulator.state.callsTo('UpdateInstanceInformation').at(-1);
    assert.match(ping?.accessKeyId ?? '', /^ASIA/);
    assert.equal(emulator.state.instance(id)?.agentVersion, VERSION);
    assert.match(await agentLog(), /INFO \[CredentialRefresher\] Credentials ready/);
  });
});
