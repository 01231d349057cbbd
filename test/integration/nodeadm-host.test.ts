// EKS Hybrid Nodes on a real systemd host: the host was set up as `nodeadm init` sets one up with the SSM
// credential provider — the agent installed and registered beforehand (the stand-in agent, registered with its own
// -register), and nodeadm's kubelet environment naming the labels eks.amazonaws.com/compute-type=hybrid and
// eks.amazonaws.com/hybrid-credential-provider=ssm. The node agent must adopt that agent: report it, and never
// reinstall, reconfigure, re-register or uninstall it, whatever its config says.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { resolveEffectiveConfig } from '../../node-agent/config/mounted-secrets.ts';
import { HostConverger } from '../../node-agent/agent/pass.ts';
import { convergence } from '../../node-agent/agent/readiness.ts';
import { stateFromPass } from '../../node-agent/fleet/report.ts';
import { createAgentPackages } from '../../node-agent/package/agent-packages.ts';
import { NODEADM_KUBELET_ENV, nodeadmOwnsSsmAgent } from '../../node-agent/steps/nodeadm.ts';
import { uninstallConfirmed } from '../../operator/controllers/uninstall-progress.ts';
import { parseAgentMessage } from '../../operator/api/fleet-protocol.ts';
import { createNodeAgentFixture, NO_IMDS, TEST_ACTIVATION_ID, type NodeAgentFixture } from '../harness/node-agent-fixture.ts';
import { STAND_IN_ACTIVATION_CODES, STAND_IN_PATHS } from '../harness/stand-in-agent.ts';
import { startSystemdHost, type SystemdHost } from '../harness/systemd-host.ts';

const NODEADM_VERSION = '3.3.100.0';
const CONFIG_VERSION = '3.3.101.0';
// What nodeadm (github.com/aws/eks-hybrid, internal/kubelet) writes for the kubelet, trimmed to the flags that matter.
const KUBELET_ENV = `NODEADM_KUBELET_ARGS="--cloud-provider= --hostname-override=hybrid-1 --node-labels=eks.amazonaws.com/compute-type=hybrid,eks.amazonaws.com/hybrid-credential-provider=ssm"\n`;

let sys: SystemdHost;
let fx: NodeAgentFixture;
let converger: HostConverger;
/** One pass, with the Secrets read at its start as the node agent does. */
const pass = async (c: NodeAgentConfig) => converger.pass(await resolveEffectiveConfig(c, fx.readSecret));

async function fingerprint(): Promise<string> {
  const h = sys.host;
  const parts = await Promise.all([
    sys.run(['dpkg-query', '-W', '-f', '${Version}', 'amazon-ssm-agent']).then((r) => r.stdout),
    h.readFile(STAND_IN_PATHS.registration).then((b) => b?.toString('utf8') ?? 'none'),
    h.readFile(STAND_IN_PATHS.registrationsLog).then((b) => String((b?.toString('utf8') ?? '').split('\n').filter(Boolean).length)),
    h.readFile('/etc/amazon/ssm/amazon-ssm-agent.json').then((b) => b?.toString('utf8') ?? 'none'),
    sys.run(['sh', '-c', 'ls /etc/systemd/system/amazon-ssm-agent.service.d 2>/dev/null; ls /etc/sudoers.d; getent passwd ssm-user || true']).then((r) => r.stdout),
    sys.run(['systemctl', 'show', '-p', 'ActiveEnterTimestampMonotonic', '--value', 'amazon-ssm-agent']).then((r) => r.stdout.trim()),
  ]);
  return parts.join('\n--\n');
}

before(async () => {
  fx = await createNodeAgentFixture({ versions: [NODEADM_VERSION, CONFIG_VERSION] });
  process.env.SSM_AGENT_SIGNING_KEY_FILE = fx.keyFile;
  sys = await startSystemdHost();
  // nodeadm init: installs the agent and registers it with its own hybrid activation, then starts the kubelet.
  copyFileSync(fx.debPath(NODEADM_VERSION), join(sys.rootDir, 'tmp', 'amazon-ssm-agent.deb'));
  const install = await sys.run(['dpkg', '-i', '/tmp/amazon-ssm-agent.deb']);
  assert.equal(install.code, 0, install.stderr);
  const register = await sys.run(['amazon-ssm-agent', '-register', '-y', '-code', STAND_IN_ACTIVATION_CODES.ok, '-id', TEST_ACTIVATION_ID, '-region', 'eu-west-1']);
  assert.equal(register.code, 0, register.stderr + register.stdout);
  assert.equal((await sys.run(['systemctl', 'restart', 'amazon-ssm-agent'])).code, 0);
  await sys.host.writeFileAtomic(NODEADM_KUBELET_ENV, KUBELET_ENV, 0o644);
  converger = new HostConverger({
    host: sys.host,
    packages: createAgentPackages({ workDir: join(fx.work, 'downloads') }),
    imdsEndpoint: NO_IMDS,
    registerBackoff: { baseDelayMs: 200, maxDelayMs: 400 },
  });
});

after(async () => {
  await sys?.stop();
  await fx?.close();
  delete process.env.SSM_AGENT_SIGNING_KEY_FILE;
});

test('nodeadm’s kubelet labels are read as nodeadm owning the agent only with the SSM credential provider', () => {
  assert.equal(nodeadmOwnsSsmAgent(KUBELET_ENV), true);
  assert.equal(nodeadmOwnsSsmAgent(KUBELET_ENV.replace('=ssm', '=iam-ra')), false, 'IAM Roles Anywhere: nodeadm installs no SSM agent');
  assert.equal(nodeadmOwnsSsmAgent('NODEADM_KUBELET_ARGS="--node-labels=eks.amazonaws.com/hybrid-credential-provider=ssm"'), false, 'not a hybrid node');
  assert.equal(nodeadmOwnsSsmAgent(''), false);
});

test('a Hybrid config over a nodeadm host: the agent is adopted and reported, nothing on the host changes', async () => {
  const before = await fingerprint();
  assert.match(before, /mi-[0-9a-f]{17}/, 'pre-registered by "nodeadm"');
  for (let i = 0; i < 2; i++) {
    const report = await pass(fx.config({ version: CONFIG_VERSION }));
    assert.equal(report.facts.externallyManaged, 'nodeadm');
    const skipped = report.outcomes.filter((o) => o.status === 'skipped' && o.reason === 'ManagedByNodeadm').map((o) => o.step);
    assert.deepEqual(skipped, ['install', 'configure', 'ssm-user', 'register'], JSON.stringify(report.outcomes));
    assert.equal(report.observation?.version, NODEADM_VERSION, 'the version nodeadm installed, not the config’s');
    assert.match(report.observation?.registration?.instanceId ?? '', /^mi-/);
    const ready = convergence(report, fx.config({ version: CONFIG_VERSION }));
    assert.ok(ready.ready && /adopted from nodeadm/.test(ready.detail), JSON.stringify(ready));
    // What the operator gets says so, and the protocol accepts it.
    const parsed = parseAgentMessage(JSON.stringify({ v: 1, type: 'state', state: stateFromPass(report) }));
    assert.ok(parsed.ok && parsed.message.type === 'state' && parsed.message.state.facts?.externallyManaged === 'nodeadm', JSON.stringify(parsed));
  }
  assert.equal(await fingerprint(), before, 'package, registration, configuration, drop-ins, sudoers, ssm-user and service start unchanged');
});

test('deletionPolicy Uninstall over a nodeadm host: the agent stays, and the node counts as confirmed', async () => {
  const before = await fingerprint();
  const report = await pass(fx.config({ version: CONFIG_VERSION, action: 'Uninstall' }));
  const uninstall = report.outcomes.find((o) => o.step === 'uninstall');
  assert.equal(uninstall?.status, 'skipped');
  assert.equal(uninstall?.reason, 'ManagedByNodeadm');
  assert.equal(report.observation?.version, NODEADM_VERSION);
  assert.equal(await fingerprint(), before);
  const state = stateFromPass(report);
  assert.equal(uninstallConfirmed({ node: 'hybrid-1', config: 'c', state, connected: true }), true, 'the finalizer does not wait 10 minutes for it');
});
