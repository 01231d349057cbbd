// The systemd test host: a real Debian root filesystem booted with systemd-nspawn, driven through the production
// Host adapter (NsenterHost) pointed at the container's PID 1.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { NsenterHost } from '../../node-agent/host/nsenter-host.ts';
import { pidAlive } from '../harness/managed-process.ts';
import { ensureRootfs, removeStaleHosts, startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';

function processesInNamespace(ns: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) === ns) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

describe('systemd test host', { timeout: 300_000 }, () => {
  let h: SystemdHost;
  let bootMs = 0;

  before(async () => {
    await ensureRootfs(); // a first build (about a minute) is not boot time
    const t0 = Date.now();
    h = await startSystemdHost({ name: 'ssm-test-node' });
    bootMs = Date.now() - t0;
    console.error(`# systemd host booted (running) in ${bootMs} ms`);
  });

  after(async () => {
    await h?.stop();
  });

  it('runs systemd as PID 1 of its own PID namespace', async () => {
    assert.equal(readFileSync(`/proc/${h.pid}/comm`, 'utf8').trim(), 'systemd');
    assert.notEqual(readlinkSync(`/proc/${h.pid}/ns/pid`), readlinkSync('/proc/self/ns/pid'));
    assert.equal(h.host instanceof NsenterHost, true);
    assert.equal(h.host.pid, h.pid);
    const exe = await h.run(['readlink', '/proc/1/exe']);
    assert.equal(exe.code, 0, exe.stderr);
    assert.match(exe.stdout.trim(), /^(\/usr)?\/lib\/systemd\/systemd$/);
    const comm = await h.run(['ps', '-p', '1', '-o', 'comm=']);
    assert.equal(comm.stdout.trim(), 'systemd');
    const hostname = await h.run(['hostname']);
    assert.equal(hostname.stdout.trim(), 'ssm-test-node');
  });

  it('reports a running system', async () => {
    assert.match(await h.waitForSystemd(), /^(running|degraded)$/);
    const r = await h.run(['systemctl', 'is-system-running']);
    assert.equal(r.stdout.trim(), 'running', `failed units: ${(await h.run(['systemctl', '--failed', '--no-legend'])).stdout}`);
  });

  it('starts units', async () => {
    const started = await h.run(['systemd-run', '--unit=x', 'sleep', '300']);
    assert.equal(started.code, 0, started.stderr);
    const active = await h.run(['systemctl', 'is-active', 'x']);
    assert.equal(active.stdout.trim(), 'active');
    const stopped = await h.run(['systemctl', 'stop', 'x']);
    assert.equal(stopped.code, 0, stopped.stderr);
  });

  it('writes and reads files inside the container, not on our root nor in the cached image', async () => {
    const path = '/etc/ssm-harness-check/hello.conf';
    await h.host.writeFileAtomic(path, 'hello from the harness\n', 0o640);
    assert.equal((await h.host.readFile(path))?.toString('utf8'), 'hello from the harness\n');
    assert.equal((await h.host.stat(path))?.mode, 0o640);
    const inside = await h.run(['cat', path]);
    assert.equal(inside.stdout, 'hello from the harness\n');
    assert.equal(existsSync(path), false, 'the file landed on our own root');
    assert.equal(existsSync(`${h.imageDir}${path}`), false, 'the file landed in the cached image');
    // and the other way round: what a command writes inside is what the adapter reads
    const w = await h.run(['sh', '-c', 'umask 022; cat > /var/tmp/from-stdin'], 'piped\n');
    assert.equal(w.code, 0, w.stderr);
    assert.equal((await h.host.readFile('/var/tmp/from-stdin'))?.toString('utf8'), 'piped\n');
    assert.equal(await h.host.removeFile(path), true);
    assert.equal(await h.host.readFile(path), undefined);
  });

  it('has useradd and visudo', async () => {
    const add = await h.run(['useradd', '--create-home', '--shell', '/bin/bash', 'ssm-user']);
    assert.equal(add.code, 0, add.stderr);
    const id = await h.run(['id', '-u', 'ssm-user']);
    assert.match(id.stdout.trim(), /^\d+$/);
    assert.ok(await h.host.stat('/home/ssm-user'));
    assert.equal(existsSync(`${h.imageDir}/home/ssm-user`), false);

    await h.host.writeFileAtomic('/etc/sudoers.d/.check-good', 'ssm-user ALL=(ALL) NOPASSWD:ALL\n', 0o440);
    const good = await h.run(['visudo', '-c', '-f', '/etc/sudoers.d/.check-good']);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    await h.host.writeFileAtomic('/etc/sudoers.d/.check-bad', 'ssm-user ALL=(ALL NOPASSWD ALL\n', 0o440);
    const bad = await h.run(['visudo', '-c', '-f', '/etc/sudoers.d/.check-bad']);
    assert.notEqual(bad.code, 0);
    await h.host.removeFile('/etc/sudoers.d/.check-good');
    await h.host.removeFile('/etc/sudoers.d/.check-bad');
  });

  it('reaches loopback servers of this machine (shared network namespace)', () => {
    assert.equal(readlinkSync(`/proc/${h.pid}/ns/net`), readlinkSync('/proc/self/ns/net'));
  });

  it('stop() halts the container and leaves no process, mount or directory behind', async () => {
    const { pid, nspawnPid, pidNamespace, logPath } = h;
    assert.ok(processesInNamespace(pidNamespace).length > 1);
    const t0 = Date.now();
    await h.stop();
    console.error(`# systemd host stopped in ${Date.now() - t0} ms`);
    assert.equal(pidAlive(pid), false);
    assert.equal(pidAlive(nspawnPid), false);
    assert.deepEqual(processesInNamespace(pidNamespace), []);
    assert.deepEqual(h.processes(), []);
    assert.equal(existsSync(logPath), false);
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes('ssm-host-root'), false);
    await h.stop(); // idempotent
  });
});

describe('systemd test host after a SIGKILL of the test process', { timeout: 120_000 }, () => {
  it('takes the container down with it', async () => {
    const harness = pathToFileURL(resolve(import.meta.dirname, '../harness/systemd-host.ts')).href;
    const script = `
      const { startSystemdHost } = await import(${JSON.stringify(harness)});
      const h = await startSystemdHost({ name: 'ssm-killed-node' });
      process.stdout.write(JSON.stringify({ pid: h.pid, ns: h.pidNamespace }) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const line = await new Promise<string>((resolveLine, reject) => {
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('\n')) resolveLine(out.split('\n')[0] ?? '');
        });
        child.once('exit', (code) => reject(new Error(`child exited (${String(code)}) before booting a host`)));
        setTimeout(() => reject(new Error('no host within 60 s')), 60_000).unref();
      });
      const { pid, ns } = JSON.parse(line) as { pid: number; ns: string };
      assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'systemd');
      assert.ok(processesInNamespace(ns).length > 1);
      child.kill('SIGKILL');
      await exited;
      await waitFor('the container processes to die', () => processesInNamespace(ns).length === 0, 10_000);
      assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes('ssm-host-root'), false);
      // What a dead test process cannot remove itself (its temp dir, empty cgroups) goes at the next start.
      await waitFor('the stale temp dir and cgroups to be swept', () => removeStaleHosts() === 0, 10_000);
      assert.deepEqual(readdirSync(tmpdir()).filter((n) => n.startsWith(`ssm-systemd-host-${String(child.pid)}-`)), []);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
