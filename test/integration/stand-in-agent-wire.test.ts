// The stand-in amazon-ssm-agent script itself against the SSM emulator and a real tinyproxy, without a systemd host:
// it runs in a private mount namespace whose /etc and /var are copy-on-write overlays of this machine's (nothing it
// writes reaches the real ones, and the namespace goes with its last process). What it proves: -register's wire
// calls, proxy choice (https_proxy unless no_proxy), two-line network errors, the hardened vault with its
// InstanceFingerprint, the service's exit 0 without identity, and, registered, the RSA-signed role-token request,
// the real agent's log lines while it is denied, and its SigV4 pings making the instance Online.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../harness/wait.ts';
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';
import { startTinyproxy, tinyproxyAvailable, type Tinyproxy } from '../servers/tinyproxy.ts';

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'stand-in-agent', 'amazon-ssm-agent');
const REGION = 'eu-west-1';
const root = process.getuid?.() === 0;

interface Run {
  child: ChildProcess;
  out: () => string;
  done: Promise<number>;
}

/** bash SCRIPT in a private mount namespace with overlays on /etc and /var; the process group is ours to kill. */
function inNamespace(dir: string, body: string, env: Record<string, string> = {}): Run {
  const prelude = `set -u
for d in etc var; do mkdir -p ${dir}/$d-upper ${dir}/$d-work; mount -t overlay ov -o lowerdir=/$d,upperdir=${dir}/$d-upper,workdir=${dir}/$d-work /$d; done
mkdir -p /etc/amazon/ssm
printf 'ping_seconds=1\\nretry_seconds=1\\nclient_timeout_seconds=5\\n' > /etc/amazon/ssm/stand-in-settings
S=${SCRIPT}
`;
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', prelude + body], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const done = new Promise<number>((r) => child.once('close', (code) => r(code ?? 128)));
  return { child, out: () => out, done };
}

function kill(run: Run): void {
  try {
    if (run.child.pid !== undefined) process.kill(-run.child.pid, 'SIGKILL');
  } catch {
    // gone
  }
}

describe('stand-in agent script on the wire', { skip: !root && 'needs root (mount namespace)', timeout: 300_000 }, () => {
  let dir: string;
  let emulator: SsmEmulator;
  let proxy: Tinyproxy | undefined;
  const runs: Run[] = [];
  const run = (body: string, env?: Record<string, string>) => {
    const r = inNamespace(mkdtempSync(join(dir, 'ns-')), body, { SSM_EMULATOR_URL: emulator.url, ...env });
    runs.push(r);
    return r;
  };
  const activation = () => emulator.state.newActivation({ iamRole: 'SSMServiceRole', registrationLimit: 10, expirationDate: new Date(Date.now() + 86_400_000), tags: [] });
  const registerLine = () => {
    const a = activation();
    return `bash $S -register -y -code '${a.activationCode}' -id ${a.activationId} -region ${REGION}`;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ssm-stand-in-wire-'));
    emulator = await startSsmEmulator({ region: REGION });
    if (tinyproxyAvailable()) proxy = await startTinyproxy({ dir, connectPorts: [Number(new URL(emulator.url).port)] });
  });

  after(async () => {
    for (const r of runs) kill(r);
    await Promise.all(runs.map((r) => r.done));
    await proxy?.stop();
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers: hardened vault (0600 directories and files) with the InstanceFingerprint it registered with; config-override lines on stderr', async () => {
    const r = run(`echo '{}' > /etc/amazon/ssm/amazon-ssm-agent.json
${registerLine()} 2>/dev/null; echo "rc=$?"
${registerLine()} 2>&1 >/dev/null | sed 's/^/stderr: /'
stat -c '%a %n' /var/lib/amazon/ssm/Vault /var/lib/amazon/ssm/Vault/Store /var/lib/amazon/ssm/Vault/Manifest /var/lib/amazon/ssm/Vault/Store/*
echo "fp=$(sed -n 's/.*"fingerprint":"\\([^"]*\\)".*/\\1/p' /var/lib/amazon/ssm/Vault/Store/InstanceFingerprint)"
echo "id=$(sed -n 's/.*"ManagedInstanceID":"\\([^"]*\\)".*/\\1/p' /var/lib/amazon/ssm/registration)"`);
    await r.done;
    const out = r.out();
    assert.match(out, /rc=0/, out);
    assert.match(out, /Successfully registered the instance with AWS SSM using Managed instance-id: mi-[0-9a-f]{17}/);
    assert.match(out, /^stderr: \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d Found config file at \/etc\/amazon\/ssm\/amazon-ssm-agent\.json\.$/m);
    assert.match(out, /^stderr: \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d processing appconfig overrides$/m);
    for (const p of ['Vault', 'Vault/Store', 'Vault/Manifest', 'Vault/Store/RegistrationKey', 'Vault/Store/InstanceFingerprint']) {
      assert.match(out, new RegExp(`^600 /var/lib/amazon/ssm/${p}$`, 'm'), `${p}\n${out}`);
    }
    const fp = /^fp=(\S+)$/m.exec(out)?.[1];
    const id = /^id=(mi-\S+)$/m.exec(out)?.[1];
    assert.ok(fp && id, out);
    assert.equal(emulator.state.instance(id)?.fingerprint, fp, 'the fingerprint it registered with');
    assert.equal(emulator.state.callsTo('RegisterManagedInstance').at(-1)?.anonymous, true);
  });

  it('an unreachable endpoint or proxy is a two-line network error; https_proxy is used unless no_proxy matches', async () => {
    const r = run(`SSM_EMULATOR_URL=http://127.0.0.1:9 ${registerLine()} 2>/dev/null; echo "rc=$?"
${proxy ? `https_proxy=${proxy.url} no_proxy=example.com,127.0.0.1 ${registerLine()} 2>/dev/null | tail -1
echo marker-direct
https_proxy=${proxy.url} no_proxy=example.com ${registerLine()} 2>/dev/null | tail -1
echo marker-proxied` : ''}
https_proxy=http://127.0.0.1:9 ${registerLine()} 2>/dev/null | tail -2`);
    let directTargets = -1;
    if (proxy) {
      await waitFor('the direct registration', () => r.out().includes('marker-direct'), 120_000, 100);
      directTargets = proxy.connectTargets().length;
    }
    await r.done;
    const out = r.out();
    assert.match(out, /ERROR Registration failed due to error registering the instance with AWS SSM\. RequestError: send request failed\ncaused by: Post "http:\/\/127\.0\.0\.1:9\/": dial tcp 127\.0\.0\.1:9: connect: connection refused\nrc=1/, out);
    assert.match(out, /RequestError: send request failed\ncaused by: Post "[^"]+": proxyconnect tcp: dial tcp 127\.0\.0\.1:9: connect: connection refused/);
    if (proxy) {
      assert.equal(directTargets, 0, 'no_proxy matched: no CONNECT');
      assert.deepEqual(proxy.connectTargets(), [new URL(emulator.url).host], 'https_proxy: one CONNECT to the endpoint');
      assert.equal((out.match(/Successfully registered/g) ?? []).length, 2, out);
    }
  });

  it('unregistered, the service logs that it has no identity and exits 0', async () => {
    const r = run('bash $S >/dev/null 2>&1; echo "rc=$?"; cat /var/log/amazon/ssm/amazon-ssm-agent.log');
    await r.done;
    const out = r.out();
    assert.match(out, /rc=0/);
    assert.match(out, /ERROR \[amazon-ssm-agent\] failed to get identity: failed to find agent identity/);
    assert.match(out, /ERROR Error occurred when starting amazon-ssm-agent: failed to get identity/);
  });

  it('registered: the denied role token is logged as the real agent logs it; allowed again, it signs its pings and is Online', async () => {
    emulator.faults.roleToken('AccessDenied');
    const r = run(`${registerLine()} >/dev/null 2>&1
echo "id=$(sed -n 's/.*"ManagedInstanceID":"\\([^"]*\\)".*/\\1/p' /var/lib/amazon/ssm/registration)"
bash $S >/dev/null 2>&1 &
tail -F -n +1 /var/log/amazon/ssm/amazon-ssm-agent.log 2>/dev/null`);
    await waitFor('the denied role token and the retry in the log', () => /Retrieve credentials produced error: AccessDeniedException: [^]*Sleeping for/.test(r.out()), 120_000, 100);
    const id = /^id=(mi-\S+)$/m.exec(r.out())?.[1] ?? '';
    assert.match(r.out(), /ERROR \[CredentialRefresher\] Retrieve credentials produced error: AccessDeniedException: .*\n\tstatus code: 400, request id: [0-9a-f-]{36}\n/);
    assert.match(r.out(), /INFO \[CredentialRefresher\] Sleeping for 1s before retrying retrieve credentials/);
    assert.equal(emulator.state.callsTo('UpdateInstanceInformation').length, 0, 'no ping without credentials');
    const denied = emulator.state.callsTo('RequestManagedInstanceRoleToken').at(-1);
    assert.equal(denied?.code, 'AccessDeniedException');
    assert.equal(denied?.accessKeyId, id, 'the RSA signature verified against the key it registered');

    emulator.faults.roleToken(undefined);
    await waitFor('the agent to ping', () => emulator.state.pingStatus(emulator.state.instance(id) ?? {}) === 'Online', 120_000, 100);
    assert.match(r.out(), /INFO \[CredentialRefresher\] Credentials ready/);
    const ping = emulator.state.callsTo('UpdateInstanceInformation').find((c) => c.code === 'OK');
    assert.match(ping?.accessKeyId ?? '', /^ASIA/, 'signed with the role credentials');
    assert.equal(ping?.input.InstanceId, id);

    // credentials refused on use (ExpiredTokenException): logged by the health check, and the agent fetches new ones
    emulator.faults.roleToken('Expired');
    await waitFor('the refused ping in the log', () => /ERROR \[HealthCheck\] error when calling AWS APIs\. error details - ExpiredTokenException: /.test(r.out()), 60_000, 100);
    emulator.faults.roleToken(undefined);
    kill(r);
  });
});
