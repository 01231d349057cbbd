// The node-agent process on a real systemd host: a configuration change arrives the way a ConfigMap volume
// delivers it (an atomic swap of the ..data symlink) and is applied without a restart; a broken file is refused
// and the last good configuration kept; SIGTERM ends it cleanly.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../harness/control-plane.ts';
import type { ManagedProcess } from '../harness/managed-process.ts';
import { createNodeAgentFixture, nodeAgentMetrics, PASS_DONE, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';
import { waitFor } from '../harness/wait.ts';

const VERSION = '3.3.200.0';
let sys: SystemdHost;
let fixture: NodeAgentFixture;
let agent: ManagedProcess;
let port: number;
let configDir: string;
let generation = 0;

/** Publishes a new config.json the way the kubelet updates a ConfigMap volume. */
function publish(text: string): void {
  generation++;
  const data = `..${generation}`;
  mkdirSync(join(configDir, data));
  writeFileSync(join(configDir, data, 'config.json'), text);
  symlinkSync(data, join(configDir, '..data_tmp'));
  renameSync(join(configDir, '..data_tmp'), join(configDir, '..data'));
  if (generation === 1) symlinkSync('..data/config.json', join(configDir, 'config.json'));
}

before(async () => {
  fixture = await createNodeAgentFixture({ versions: [VERSION], tempPrefix: 'ssm-node-agent-process-' });
  sys = await startSystemdHost();
  configDir = join(fixture.work, 'config');
  mkdirSync(configDir);
  publish(JSON.stringify(fixture.config({ version: VERSION })));
  port = await freePort();
  agent = fixture.startNodeAgent({
    name: 'node-agent',
    logPath: join(fixture.work, 'node-agent.log'),
    hostPid: sys.pid,
    configFile: join(configDir, 'config.json'),
    metricsPort: port,
    passIntervalSeconds: 3600,
  });
  await waitFor('the first pass', async () => PASS_DONE.test(await nodeAgentMetrics(port)), 90_000, 200);
});

after(async () => {
  await agent?.stop(10_000);
  await sys?.stop();
  await fixture?.close();
});

test('healthz answers and the first pass converged the host', async () => {
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  const metrics = await nodeAgentMetrics(port);
  assert.match(metrics, /^ssm_agent_up 1$/m);
  assert.match(metrics, /^ssm_node_agent_config_valid 1$/m);
  assert.ok(await sys.host.stat('/etc/sudoers.d/ssm-agent-users'));
});

test('a new configuration is applied without a restart', async () => {
  publish(JSON.stringify(fixture.config({ version: VERSION, sudo: false })));
  await waitFor('the sudoers file to go', async () => (await sys.host.stat('/etc/sudoers.d/ssm-agent-users')) === undefined, 30_000, 200);
  assert.equal(agent.exitStatus(), undefined, 'the same process is still running');
});

test('a broken configuration is refused and the last good one kept', async () => {
  publish('{"schemaVersion": 99}');
  await waitFor('config_valid 0', async () => /^ssm_node_agent_config_valid 0$/m.test(await nodeAgentMetrics(port)), 30_000, 200);
  assert.equal(agent.exitStatus(), undefined);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  assert.equal(await sys.host.stat('/etc/sudoers.d/ssm-agent-users'), undefined, 'the host keeps the last good configuration');
});

test('SIGTERM ends the node agent cleanly', async () => {
  await agent.stop(15_000);
  const status = await agent.exited;
  assert.equal(status.code, 0);
});
