// The node-agent process on a real systemd host: it reads its pod's revision once (a file changed under it is
// not applied: a new revision is a new pod), it is ready (/readyz) only when its host converged, with the step
// and reason when not, and SIGTERM during a dpkg lets the package manager finish before it exits.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../harness/control-plane.ts';
import type { ManagedProcess } from '../harness/managed-process.ts';
import { createNodeAgentFixture, nodeAgentMetrics, PASS_DONE, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';

const VERSION = '3.3.200.0';
const V2 = '3.3.201.0';
const MISSING = '3.3.999.0';

let sys: SystemdHost;
let fixture: NodeAgentFixture;
let agent: ManagedProcess | undefined;
let port: number;
let configDir: string;

function writeConfig(name: string, text: string): string {
  const file = join(configDir, name);
  writeFileSync(file, text);
  return file;
}

function start(name: string, configFile: string, passIntervalSeconds = 3600): ManagedProcess {
  agent = fixture.startNodeAgent({ name, logPath: join(fixture.work, `${name}.log`), hostPid: sys.pid, configFile, metricsPort: port, passIntervalSeconds, extraEnv: { REVISION: 'abc123' } });
  return agent;
}

async function readyz(): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

before(async () => {
  fixture = await createNodeAgentFixture({ versions: [VERSION, V2], tempPrefix: 'ssm-node-agent-process-' });
  sys = await startSystemdHost();
  configDir = join(fixture.work, 'config');
  mkdirSync(configDir);
  port = await freePort();
});

after(async () => {
  await agent?.stop(10_000);
  await sys?.stop();
  await fixture?.close();
});

test('ready only once the host converged to the revision; healthz is liveness only', async () => {
  const file = writeConfig('v1.json', JSON.stringify(fixture.config({ version: VERSION })));
  start('node-agent-v1', file, 2);
  await waitFor('the first pass', async () => PASS_DONE.test(await nodeAgentMetrics(port)), 90_000, 200);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  const r = await waitFor('readyz 200', async () => {
    const got = await readyz();
    return got.status === 200 ? got : undefined;
  }, 30_000, 200);
  assert.match(r.body, new RegExp(`^revision abc123: converged: amazon-ssm-agent ${VERSION.replaceAll('.', '\\.')} active, mi-`));
  assert.match(await nodeAgentMetrics(port), /^ssm_node_agent_converged 1$/m);
});

test('the revision is read once: a file changed under a running node agent is not applied', async () => {
  const before = /^ssm_node_agent_last_pass_timestamp_seconds (\S+)$/m.exec(await nodeAgentMetrics(port))?.[1];
  writeConfig('v1.json', JSON.stringify(fixture.config({ version: VERSION, sudo: false })));
  await waitFor('two more passes', async () => {
    const now = /^ssm_node_agent_last_pass_timestamp_seconds (\S+)$/m.exec(await nodeAgentMetrics(port))?.[1];
    return now && before && Number(now) >= Number(before) + 3 ? true : undefined;
  }, 30_000, 200);
  assert.ok(await sys.host.stat('/etc/sudoers.d/ssm-agent-users'), 'the sudoers file stays: the changed file was not applied');
  await agent?.stop(15_000);
});

test('a revision whose package is missing keeps the node agent unready, naming the step and reason', async () => {
  const file = writeConfig('missing.json', JSON.stringify(fixture.config({ version: MISSING })));
  start('node-agent-missing', file);
  const r = await waitFor('readyz 503 with a reason', async () => {
    const got = await readyz().catch(() => undefined);
    return got && got.status === 503 && /step install/.test(got.body) ? got : undefined;
  }, 90_000, 200);
  assert.match(r.body, /not converged: step install NotFound: /);
  assert.match(await nodeAgentMetrics(port), /^ssm_node_agent_not_converged\{step="install",reason="NotFound"\} 1$/m);
  assert.match(await nodeAgentMetrics(port), /^ssm_node_agent_converged 0$/m);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'unready, not dead: no restart');
  assert.equal(await sys.host.run(['dpkg-query', '-W', '-f=${Version}', 'amazon-ssm-agent']).then((x) => x.stdout.trim()), `${VERSION}-1`, 'the host keeps what it ran');
  await agent?.stop(15_000);
});

test('SIGTERM during dpkg: the package manager finishes, the node agent exits 0, the next one finds a converged host', async () => {
  // A dpkg that takes a while, and says when it started: a hook of dpkg itself, on the host.
  await sys.host.writeFileAtomic('/etc/dpkg/dpkg.cfg.d/slow-test', 'pre-invoke=touch /run/dpkg-started; sleep 6\n', 0o644);
  await sys.host.removeFile('/run/dpkg-started');
  try {
    const file = writeConfig('v2.json', JSON.stringify(fixture.config({ version: V2 })));
    const first = start('node-agent-v2', file);
    await waitFor('dpkg to start', async () => ((await sys.host.stat('/run/dpkg-started')) ? true : undefined), 90_000, 100);
    await first.stop(60_000);
    const status = await first.exited;
    assert.equal(status.code, 0, `the node agent ${status.signal ? `was killed by ${status.signal}` : `exited ${String(status.code)}`}`);
    const installed = await sys.host.run(['dpkg-query', '-W', '-f=${Version} ${db:Status-Abbrev}', 'amazon-ssm-agent']);
    assert.equal(installed.stdout.trim(), `${V2}-1 ii`, 'dpkg finished: installed, not half-configured');
  } finally {
    await sys.host.removeFile('/etc/dpkg/dpkg.cfg.d/slow-test');
  }
  const next = start('node-agent-v2-next', join(configDir, 'v2.json'));
  await waitFor('the next node agent ready', async () => ((await readyz().catch(() => undefined))?.status === 200 ? true : undefined), 90_000, 200);
  assert.match(await nodeAgentMetrics(port), /^ssm_node_agent_step_status\{step="install",status="ok"\} 1$/m, 'nothing left to install');
  await next.stop(15_000);
  assert.equal((await next.exited).code, 0);
});

test('a dpkg cut short anyway (the package unpacked, not configured) is repaired by the next node agent', async () => {
  // What a dpkg -i killed after its unpack phase leaves behind.
  await sys.host.writeFileAtomic('/root/interrupted.deb', readFileSync(fixture.debPath(V2)), 0o644);
  const unpack = await sys.host.run(['dpkg', '--unpack', '/root/interrupted.deb']);
  assert.equal(unpack.code, 0, unpack.stderr);
  assert.match((await sys.host.run(['dpkg-query', '-W', '-f=${db:Status-Abbrev}', 'amazon-ssm-agent'])).stdout, /^iU/, 'unpacked, not configured');
  const repaired = start('node-agent-repair', join(configDir, 'v2.json'));
  await waitFor('ready again', async () => ((await readyz().catch(() => undefined))?.status === 200 ? true : undefined), 90_000, 200);
  assert.equal((await sys.host.run(['dpkg-query', '-W', '-f=${Version} ${db:Status-Abbrev}', 'amazon-ssm-agent'])).stdout.trim(), `${V2}-1 ii`);
  await repaired.stop(15_000);
});
