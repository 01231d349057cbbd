// Host safety (issue 10 items 16 and 20): with ssmUser.create false the agent's own sudoers file is left alone;
// groups removed from the spec are removed from ssm-user (only those the node agent added); a failed install backs
// off instead of downloading again every pass; two rpm versions after an interrupted upgrade are not glued together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNodeAgentConfig, type NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { createInstallStep, type AgentPackages } from '../../node-agent/steps/install.ts';
import { installedAgentVersion } from '../../node-agent/steps/installed-version.ts';
import { SUDOERS_FILE } from '../../node-agent/steps/paths.ts';
import { ssmUserStep } from '../../node-agent/steps/ssm-user.ts';
import { runStep, type StepContext } from '../../node-agent/steps/step.ts';
import type { HostFacts } from '../../node-agent/steps/facts.ts';
import { effectiveConfig } from '../../node-agent/config/effective.ts';
import { exit, FakeHost, ok } from '../harness/fake-host.ts';
import { sampleConfig } from '../fixtures/configs.ts';

function agentConfig(spec: Parameters<typeof sampleConfig>[1] = {}): NodeAgentConfig {
  // as the operator renders it into the revision ConfigMap, and the node agent parses it
  const parsed = parseNodeAgentConfig(JSON.stringify(renderNodeAgentConfig(sampleConfig('c', spec))));
  assert.ok(parsed.ok);
  return parsed.config;
}

function context(host: FakeHost, config: NodeAgentConfig, facts: HostFacts = {}, clock = { now: 1_000_000 }): StepContext {
  return { host, config, effective: effectiveConfig(config, {}), facts: { packageManager: 'dpkg', ...facts }, now: () => clock.now };
}

/** A host with ssm-user in `groups`, answering getent/id/usermod/gpasswd like the shadow tools. */
function userHost(groups: string[]): FakeHost {
  const host = new FakeHost();
  const member = new Set(groups);
  host.on((argv) => {
    if (argv[0] === 'getent') return ok(`${argv[2]}:x:1000:\n`);
    if (argv[0] === 'id') return ok(`ssm-user ${[...member].join(' ')}\n`);
    if (argv[0] === 'usermod') {
      member.add(argv[3] ?? '');
      return ok();
    }
    if (argv[0] === 'gpasswd' && argv[1] === '--delete') {
      member.delete(argv[3] ?? '');
      return ok();
    }
    return undefined;
  });
  return host;
}

test('ssmUser.create false: the agent\'s own /etc/sudoers.d/ssm-agent-users is left alone', async () => {
  const host = userHost([]);
  const agentsOwn = 'ssm-user ALL=(ALL) NOPASSWD:ALL\n';
  await host.writeFileAtomic(SUDOERS_FILE, agentsOwn, 0o440);
  const outcome = await runStep(ssmUserStep, context(host, agentConfig({ ssmUser: { create: false, sudo: false, groups: [] } })));
  assert.equal(outcome.status, 'ok', JSON.stringify(outcome));
  assert.equal((await host.readFile(SUDOERS_FILE))?.toString('utf8'), agentsOwn);
});

test('ssmUser.create true, sudo false: the sudoers rule goes (the operator owns the policy)', async () => {
  const host = userHost([]);
  await host.writeFileAtomic(SUDOERS_FILE, 'ssm-user ALL=(ALL) NOPASSWD:ALL\n', 0o440);
  const outcome = await runStep(ssmUserStep, context(host, agentConfig({ ssmUser: { create: true, sudo: false, groups: [] } })));
  assert.equal(outcome.status, 'changed');
  assert.equal(await host.readFile(SUDOERS_FILE), undefined);
});

test('groups removed from the spec are removed from ssm-user; groups the node agent never added stay', async () => {
  const host = userHost(['ssm-user', 'admins']); // "admins": added by someone else
  const withDocker = agentConfig({ ssmUser: { create: true, sudo: false, groups: ['docker', 'adm'] } });
  assert.equal((await runStep(ssmUserStep, context(host, withDocker))).status, 'changed');
  assert.ok(host.ran().includes('usermod --append --groups docker ssm-user'));
  assert.equal((await runStep(ssmUserStep, context(host, withDocker))).status, 'ok');

  const onlyAdm = agentConfig({ ssmUser: { create: true, sudo: false, groups: ['adm'] } });
  const outcome = await runStep(ssmUserStep, context(host, onlyAdm));
  assert.equal(outcome.status, 'changed', JSON.stringify(outcome));
  assert.match(outcome.message ?? '', /remove ssm-user from docker/);
  assert.ok(host.ran().includes('gpasswd --delete ssm-user docker'));
  assert.ok(!host.ran().some((c) => c.includes('--delete ssm-user admins')), 'a group the node agent did not add stays');
  assert.equal((await runStep(ssmUserStep, context(host, onlyAdm))).status, 'ok');
});

test('a failed install backs off: no new download until the delay has passed', async () => {
  let downloads = 0;
  const packages: AgentPackages = {
    latestVersion: async () => '3.3.1142.0',
    fetch: async () => {
      downloads++;
      return { ok: true, path: '/dev/null', cleanup: async () => undefined };
    },
  };
  const host = new FakeHost();
  host.on((argv) => (argv[0] === 'dpkg-query' ? exit(1, '', 'no packages found matching amazon-ssm-agent') : undefined));
  host.on((argv) => (argv[0] === 'dpkg' ? exit(2, '', 'dpkg: error: dpkg frontend lock was locked by another process with pid 4242') : undefined));
  const step = createInstallStep(packages, { place: async () => undefined, remove: async () => undefined });
  const clock = { now: 1_000_000 };
  const ctx = context(host, agentConfig({ agent: { version: '3.3.1142.0', verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' } }), {}, clock);
  const first = await runStep(step, ctx);
  assert.equal(first.status, 'failed');
  assert.equal(first.reason, 'InstallFailed');
  assert.match(first.message ?? '', /frontend lock/);
  const second = await runStep(step, ctx);
  assert.equal(second.status, 'failed');
  assert.match(second.message ?? '', /next attempt in \d+ s/);
  assert.equal(downloads, 1, 'no second download while backing off');
  clock.now += 31 * 60_000;
  await runStep(step, ctx);
  assert.equal(downloads, 2, 'after the delay it tries again');
});

test('rpm -q lists one version a line: two versions after an interrupted upgrade are both seen', async () => {
  const host = new FakeHost();
  host.on((argv) => (argv[0] === 'rpm' ? ok(argv.includes('%{VERSION}\n') ? '3.3.100.0\n3.3.101.0\n' : '3.3.100.03.3.101.0') : undefined));
  const v = await installedAgentVersion(host, { packageManager: 'rpm' });
  assert.equal(v, '3.3.100.0 and 3.3.101.0');
  const single = new FakeHost().on((argv) => (argv[0] === 'rpm' ? ok('3.3.101.0\n') : undefined));
  assert.equal(await installedAgentVersion(single, { packageManager: 'rpm' }), '3.3.101.0');
});
