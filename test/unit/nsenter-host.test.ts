// The production Host adapter (issue 10 items 14 and 19): host paths resolve their symlinks in the host's root, not
// the node agent's (an absolute symlink seen through /proc/PID/root would otherwise point into the container), and a
// command that times out is killed with its whole process group, not only nsenter.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NsenterHost } from '../../node-agent/host/nsenter-host.ts';
import { pidAlive } from '../harness/managed-process.ts';
import { waitFor } from '../harness/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'ssm-nsenter-root-'));
after(() => rmSync(root, { recursive: true, force: true }));

// A host whose /var/lib/amazon is an absolute symlink to /data/amazon, and whose CA bundle is a RHEL-style chain.
mkdirSync(join(root, 'data/amazon/ssm'), { recursive: true });
writeFileSync(join(root, 'data/amazon/ssm/registration'), '{"ManagedInstanceID":"mi-0123456789abcdef0","Region":"eu-west-1"}');
mkdirSync(join(root, 'var/lib'), { recursive: true });
symlinkSync('/data/amazon', join(root, 'var/lib/amazon'));
mkdirSync(join(root, 'etc/pki/ca-trust/extracted/pem'), { recursive: true });
writeFileSync(join(root, 'etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem'), 'HOST CA BUNDLE');
mkdirSync(join(root, 'etc/pki/tls/certs'), { recursive: true });
symlinkSync('/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', join(root, 'etc/pki/tls/certs/ca-bundle.crt'));
symlinkSync('../../../../etc/pki/tls/certs/ca-bundle.crt', join(root, 'etc/pki/tls/certs/relative.crt'));
symlinkSync('/loop-b', join(root, 'loop-a'));
symlinkSync('/loop-a', join(root, 'loop-b'));
symlinkSync('../../../../../../etc/hostname-escape', join(root, 'escape'));

const host = new NsenterHost(1, 'nsenter', root);

test('absolute symlinks resolve in the host root', async () => {
  assert.equal((await host.readFile('/var/lib/amazon/ssm/registration'))?.toString('utf8'), '{"ManagedInstanceID":"mi-0123456789abcdef0","Region":"eu-west-1"}');
  assert.equal((await host.readFile('/etc/pki/tls/certs/ca-bundle.crt'))?.toString('utf8'), 'HOST CA BUNDLE');
  assert.equal((await host.readFile('/etc/pki/tls/certs/relative.crt'))?.toString('utf8'), 'HOST CA BUNDLE');
  assert.equal((await host.stat('/var/lib/amazon/ssm/registration'))?.size, 65);
  assert.equal(host.hostPath('/var/lib/amazon/ssm/registration'), join(root, 'data/amazon/ssm/registration'));
});

test('writes, renames and removals go through the host\'s symlinks too', async () => {
  await host.writeFileAtomic('/var/lib/amazon/ssm/new-file', 'x', 0o600);
  assert.equal(readFileSync(join(root, 'data/amazon/ssm/new-file'), 'utf8'), 'x');
  await host.rename('/var/lib/amazon/ssm/new-file', '/var/lib/amazon/ssm/renamed');
  assert.equal(readFileSync(join(root, 'data/amazon/ssm/renamed'), 'utf8'), 'x');
  assert.equal(await host.removeFile('/var/lib/amazon/ssm/renamed'), true);
  assert.equal(await host.removeFile('/var/lib/amazon/ssm/renamed'), false);
});

test('".." and symlinks never leave the host root; loops are an error, not a hang', async () => {
  assert.equal(host.hostPath('/../../etc/passwd'), join(root, 'etc/passwd'));
  assert.equal(host.hostPath('/escape'), join(root, 'etc/hostname-escape'));
  await assert.rejects(host.readFile('/loop-a'), /ELOOP|too many symbolic links/);
});

test('a command that times out is killed with its whole process group', { skip: process.getuid?.() !== 0 && 'needs root for nsenter' }, async () => {
  const self = new NsenterHost(process.pid);
  const pidFile = join(root, 'child.pid');
  await assert.rejects(self.run(['bash', '-c', `sleep 300 >/dev/null 2>&1 & echo $! > ${pidFile}; sleep 300 >/dev/null 2>&1`], { timeoutMs: 1500 }), /timed out/);
  const child = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(child > 0);
  await waitFor('the background child to be killed too', () => !pidAlive(child), 10_000, 50);
});
