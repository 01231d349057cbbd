// The TEST STAND-IN amazon-ssm-agent package: built with dpkg-deb, installed with dpkg into a real systemd host,
// behaving like the real agent's CLI, signed and verified like AWS's packages.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  buildStandInDeb,
  gpgVerify,
  REGISTRATION_ERRORS,
  signStandIn,
  STAND_IN_ACTIVATION_CODES as CODES,
  STAND_IN_PATHS as P,
} from '../harness/stand-in-agent.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';

const execFileP = promisify(execFile);
const VERSION = '3.3.1142.0';
const REGION = 'eu-west-1';
const ACTIVATION_ID = '11111111-2222-3333-4444-555555555555';

describe('stand-in amazon-ssm-agent package', { timeout: 300_000 }, () => {
  let dir: string;
  let deb: string;
  let h: SystemdHost;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ssm-stand-in-test-'));
    [deb, h] = await Promise.all([buildStandInDeb({ version: VERSION, outDir: dir }), startSystemdHost({ name: 'ssm-stand-in-node' })]);
  });

  after(async () => {
    await h?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const register = (code: string, extra: string[] = [], input?: string) =>
    h.run(['amazon-ssm-agent', '-register', ...extra, '-code', code, '-id', ACTIVATION_ID, '-region', REGION], input);

  it('is an honestly described amazon-ssm-agent package', async () => {
    assert.match(deb, new RegExp(`amazon-ssm-agent_${VERSION.replaceAll('.', '\\.')}-1_amd64\\.deb$`));
    const { stdout } = await execFileP('dpkg-deb', ['--info', deb]);
    assert.match(stdout, /^ Package: amazon-ssm-agent$/m);
    assert.match(stdout, new RegExp(`^ Version: ${VERSION}-1$`, 'm'));
    assert.match(stdout, /^ Architecture: amd64$/m);
    assert.match(stdout, /^ Description: TEST STAND-IN for amazon-ssm-agent \(not the real agent\)$/m);
    const contents = (await execFileP('dpkg-deb', ['--contents', deb])).stdout;
    for (const path of [P.binary, P.unit, P.configTemplate, P.seelogTemplate]) assert.ok(contents.includes(`.${path}`), path);
  });

  it('installs with dpkg -i and starts its service', async () => {
    await h.host.writeFileAtomic('/tmp/amazon-ssm-agent.deb', readFileSync(deb), 0o644);
    const install = await h.run(['dpkg', '-i', '/tmp/amazon-ssm-agent.deb']);
    assert.equal(install.code, 0, install.stdout + install.stderr);
    assert.equal((await h.run(['dpkg-query', '-W', '-f', '${Version}', 'amazon-ssm-agent'])).stdout, `${VERSION}-1`);
    assert.equal((await h.run(['systemctl', 'is-enabled', 'amazon-ssm-agent'])).stdout.trim(), 'enabled');
    await waitFor('the service to log its start', async () => (await h.host.readFile(P.agentLog))?.toString().includes('TEST STAND-IN'), 10_000);
    // Unregistered, the real agent (and so the stand-in) exits 0 and systemd starts it again 90 s later.
    await waitFor(
      'the unregistered service to wait for its restart',
      async () => (await h.run(['systemctl', 'show', '-p', 'SubState', '--value', 'amazon-ssm-agent'])).stdout.trim() === 'auto-restart',
      30_000,
    );
    const unit = await h.run(['systemctl', 'show', 'amazon-ssm-agent', '-p', 'ExecStart', '-p', 'Restart', '-p', 'FragmentPath']);
    assert.match(unit.stdout, /FragmentPath=\/(usr\/)?lib\/systemd\/system\/amazon-ssm-agent\.service/);
    assert.match(unit.stdout, /Restart=always/);
  });

  it('answers -version like the real agent', async () => {
    const r = await h.run(['amazon-ssm-agent', '-version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `SSM Agent version: ${VERSION}\n`);
  });

  it('fails registration with the real error codes and writes no registration', async () => {
    const cases = [
      [CODES.expired, REGISTRATION_ERRORS.ActivationExpired],
      [CODES.invalid, REGISTRATION_ERRORS.InvalidActivation],
      [CODES.limitExceeded, REGISTRATION_ERRORS.RegistrationLimitExceeded],
    ] as const;
    for (const [code, message] of cases) {
      const r = await register(code, ['-y']);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{4} ERROR /m);
      assert.ok(r.stdout.includes(message), r.stdout);
      assert.equal(await h.host.readFile(P.registration), undefined);
    }
    assert.equal(await h.host.readFile(P.registrationsLog), undefined);
  });

  it('registers: writes the registration file like the real agent and counts the registration', async () => {
    const r = await register(CODES.ok, ['-y']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const id = /INFO Successfully registered the instance with AWS SSM using Managed instance-id: (mi-[0-9a-f]{17})$/m.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    const file = (await h.host.readFile(P.registration))?.toString('utf8');
    assert.equal(file, `{"ManagedInstanceID":"${id}","Region":"${REGION}"}`);
    assert.equal((await h.host.stat(P.registration))?.mode, 0o600);
    const vault = JSON.parse((await h.host.readFile(P.vaultKey))?.toString('utf8') ?? '{}') as Record<string, string>;
    assert.equal(vault.instanceID, id);
    assert.equal(vault.region, REGION);
    assert.equal(vault.privateKeyType, 'Rsa');
    assert.ok((vault.privateKey ?? '').length > 100);
    assert.equal((await h.host.stat(P.vaultKey))?.mode, 0o600);
    const log = (await h.host.readFile(P.registrationsLog))?.toString('utf8') ?? '';
    assert.equal(log.trim().split('\n').length, 1);
    assert.ok(log.includes(id));
    // activation codes never land on disk
    const grep = await h.run(['grep', '-r', '-l', CODES.ok, '/var/lib/amazon', '/var/log/amazon']);
    assert.equal(grep.stdout, '');
  });

  it('asks before re-registering a registered instance (and gives up on EOF)', async () => {
    const before = (await h.host.readFile(P.registration))?.toString('utf8');
    const r = await register(CODES.ok, [], '');
    assert.equal(r.code, 1);
    assert.ok(r.stdout.includes('Instance already registered. Would you like to override existing with new registration information? [Yes/No]: '));
    assert.ok(r.stdout.includes('Registration failed due to EOF'));
    const no = await register(CODES.ok, [], 'No\n');
    assert.equal(no.code, 1);
    assert.ok(no.stdout.includes('Registration canceled by user'));
    assert.equal((await h.host.readFile(P.registration))?.toString('utf8'), before);
    assert.equal((await h.host.readFile(P.registrationsLog))?.toString('utf8').trim().split('\n').length, 1);
  });

  it('handles bad command lines like the real agent', async () => {
    const noRegion = await h.run(['amazon-ssm-agent', '-register', '-y', '-code', CODES.ok, '-id', ACTIVATION_ID]);
    assert.equal(noRegion.code, 1);
    assert.match(noRegion.stderr, /Command-line Usage:/);
    const unknown = await h.run(['amazon-ssm-agent', '-bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /flag provided but not defined: -bogus/);
  });

  it('-register -clear clears the saved registration (the registration file stays, as with the real agent)', async () => {
    const r = await h.run(['amazon-ssm-agent', '-register', '-clear']);
    assert.equal(r.code, 0, r.stdout);
    assert.ok(r.stdout.includes('Registration information has been removed from the instance.'));
    const vault = JSON.parse((await h.host.readFile(P.vaultKey))?.toString('utf8') ?? '{}') as Record<string, string>;
    assert.equal(vault.instanceID, '');
    assert.ok(await h.host.readFile(P.registration));
  });

  it('stops and disables its service on removal', async () => {
    const r = await h.run(['dpkg', '-r', 'amazon-ssm-agent']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.notEqual((await h.run(['systemctl', 'is-active', 'amazon-ssm-agent'])).stdout.trim(), 'active');
    assert.equal(await h.host.readFile(P.binary), undefined);
  });

  it('is signed like AWS signs agent packages: gpg --verify accepts it and rejects a corrupted copy', async () => {
    const publicKey = await signStandIn(deb);
    assert.match(publicKey, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    assert.match(publicKey, /-----END PGP PUBLIC KEY BLOCK-----\s*$/);
    const sig = `${deb}.sig`;
    assert.notEqual(readFileSync(sig).subarray(0, 5).toString('latin1'), '-----'); // binary, like gpg --detach-sign
    const good = await gpgVerify(publicKey, sig, deb);
    assert.equal(good.ok, true, good.output);
    assert.match(good.output, /Good signature from "TEST STAND-IN SSM Agent signer/);

    const corrupted = join(dir, 'corrupted.deb');
    copyFileSync(deb, corrupted);
    const bytes = readFileSync(corrupted);
    const at = bytes.length - 100;
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(corrupted, bytes);
    const bad = await gpgVerify(publicKey, sig, corrupted);
    assert.equal(bad.ok, false);
    assert.match(bad.output, /BADSIG|BAD signature/);

    // and another key does not vouch for it
    const otherDeb = join(dir, 'other.deb');
    copyFileSync(deb, otherDeb);
    const otherKey = await signStandIn(otherDeb);
    const wrongKey = await gpgVerify(otherKey, sig, deb);
    assert.equal(wrongKey.ok, false);
  });
});
