// The package's own identity is checked before install (name, version, architecture from the file itself), and a
// "latest" that goes backwards is refused: a mirror can serve an older signed package under a newer path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNodeAgentConfig, type NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { identityProblem } from '../../node-agent/package/identity.ts';
import { createInstallStep, type AgentPackages } from '../../node-agent/steps/install.ts';
import { runStep, type StepContext } from '../../node-agent/steps/step.ts';
import { effectiveConfig } from '../../node-agent/config/effective.ts';
import { exit, FakeHost, ok } from '../harness/fake-host.ts';
import { sampleConfig } from '../fixtures/configs.ts';

function agentConfig(version: string): NodeAgentConfig {
  const config = sampleConfig('c', { agent: { version, verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' } });
  const parsed = parseNodeAgentConfig(JSON.stringify(renderNodeAgentConfig(config)));
  assert.ok(parsed.ok);
  return parsed.config;
}

test('identityProblem: name, upstream version and architecture must be the ones asked for', () => {
  const want = { version: '3.3.101.0', arch: 'amd64' as const, format: 'deb' as const };
  assert.equal(identityProblem({ name: 'amazon-ssm-agent', version: '3.3.101.0-1', arch: 'amd64' }, want), undefined);
  assert.match(identityProblem({ name: 'amazon-ssm-agent', version: '3.3.100.0-1', arch: 'amd64' }, want) ?? '', /version is "3\.3\.100\.0-1", not 3\.3\.101\.0.*nothing was installed/);
  assert.match(identityProblem({ name: 'evil', version: '3.3.101.0', arch: 'amd64' }, want) ?? '', /name is "evil"/);
  assert.match(identityProblem({ name: 'amazon-ssm-agent', version: '3.3.101.0', arch: 'arm64' }, want) ?? '', /architecture is "arm64", not amd64/);
  assert.equal(identityProblem({ name: 'amazon-ssm-agent', version: '3.3.101.0', arch: 'aarch64' }, { ...want, arch: 'arm64', format: 'rpm' }), undefined);
});

/** A dpkg host where nothing or `installed` is installed and `dpkg-deb -f` reports `inFile`. */
function host(installed: string | undefined, inFile: { Package: string; Version: string; Architecture: string }, log: string[]): FakeHost {
  const h = new FakeHost();
  h.on((argv) => (argv[0] === 'dpkg-query' ? (installed ? ok(`install ok installed\t${installed}-1`) : exit(1, '', 'no packages found')) : undefined));
  h.on((argv) => (argv[0] === 'dpkg-deb' ? ok(Object.entries(inFile).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n') : undefined));
  h.on((argv) => {
    if (argv[0] !== 'dpkg') return undefined;
    log.push(argv.join(' '));
    return ok();
  });
  return h;
}

const ctx = (h: FakeHost, config: NodeAgentConfig, clock = { now: 1_000_000 }): StepContext => ({ host: h, config, facts: { packageManager: 'dpkg', arch: 'amd64' }, effective: effectiveConfig(config, {}), now: () => clock.now });
const packages = (latest: () => string): AgentPackages => ({ latestVersion: async () => latest(), fetch: async () => ({ ok: true, path: '/dev/null', cleanup: async () => undefined }) });
const noFiles = { place: async () => undefined, remove: async () => undefined };

test('an older signed package served under the newer path is refused before dpkg -i', async () => {
  const installs: string[] = [];
  const h = host(undefined, { Package: 'amazon-ssm-agent', Version: '3.3.100.0-1', Architecture: 'amd64' }, installs);
  const out = await runStep(createInstallStep(packages(() => '3.3.101.0'), noFiles), ctx(h, agentConfig('3.3.101.0')));
  assert.equal(out.status, 'failed');
  assert.equal(out.reason, 'PackageIdentityMismatch');
  assert.match(out.message ?? '', /3\.3\.100\.0-1/);
  assert.deepEqual(installs, [], 'dpkg -i never ran');
});

test('a "latest" older than the installed version is refused, not followed', async () => {
  const installs: string[] = [];
  const h = host('3.3.101.0', { Package: 'amazon-ssm-agent', Version: '3.3.100.0-1', Architecture: 'amd64' }, installs);
  const out = await runStep(createInstallStep(packages(() => '3.3.100.0'), noFiles), ctx(h, agentConfig('latest')));
  assert.equal(out.status, 'failed');
  assert.equal(out.reason, 'LatestWentBackwards');
  assert.match(out.message ?? '', /3\.3\.100\.0, older than 3\.3\.101\.0 \(installed\).*pin spec\.agent\.version/);
  assert.deepEqual(installs, []);
});

test('a "latest" that goes below what it said before is refused too (the installed one may not have caught up)', async () => {
  let latest = '3.3.102.0';
  const clock = { now: 1_000_000 };
  const installs: string[] = [];
  const h = host(undefined, { Package: 'amazon-ssm-agent', Version: '9.9.9.9', Architecture: 'amd64' }, installs); // never matches: nothing gets installed
  const step = createInstallStep(packages(() => latest), { ...noFiles, baseDelayMs: 1, maxDelayMs: 1 });
  assert.equal((await runStep(step, ctx(h, agentConfig('latest'), clock))).reason, 'PackageIdentityMismatch');
  latest = '3.3.101.0';
  clock.now += 2 * 3_600_000; // past the hourly lookup
  const out = await runStep(step, ctx(h, agentConfig('latest'), clock));
  assert.equal(out.reason, 'LatestWentBackwards');
  assert.match(out.message ?? '', /what latest said before/);
});

test('a bad proxy Secret fails the install as ProxySecretInvalid (as configure and register say), not InstallFailed', async () => {
  const { createAgentPackages } = await import('../../node-agent/package/agent-packages.ts');
  const base = sampleConfig('c', { agent: { version: '3.3.101.0', verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt' }, proxy: { secretRef: { name: 'corp-proxy' }, noProxy: [] } });
  const parsed = parseNodeAgentConfig(JSON.stringify(renderNodeAgentConfig(base)));
  assert.ok(parsed.ok);
  const installs: string[] = [];
  const h = host(undefined, { Package: 'amazon-ssm-agent', Version: '3.3.101.0-1', Architecture: 'amd64' }, installs);
  const c = { ...ctx(h, parsed.config), effective: effectiveConfig(parsed.config, { proxy: { httpsProxy: 'ftp://proxy.corp' } }) };
  const out = await runStep(createInstallStep(createAgentPackages(), noFiles), c);
  assert.equal(out.status, 'failed');
  assert.equal(out.reason, 'ProxySecretInvalid', JSON.stringify(out));
  assert.match(out.message ?? '', /corp-proxy/);
  assert.deepEqual(installs, [], 'nothing was installed');
});
