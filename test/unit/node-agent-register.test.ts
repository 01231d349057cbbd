// The register step against what the real amazon-ssm-agent does (issue 10, items 13-15 and 17): -register gets the
// effective proxy, the service is started again whatever happened, a timeout is a counted failure longer than the
// agent's own retries, the failure detail is the agent's "Registration failed due to …" and "caused by:" lines (not
// the config-override noise after them), and a snap host runs the snap's binary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNodeAgentConfig, type NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { createRegisterStep, REGISTER_TIMEOUT_MS } from '../../node-agent/steps/register.ts';
import { classifyRegisterFailure } from '../../node-agent/steps/registration.ts';
import { agentBinary } from '../../node-agent/steps/paths.ts';
import { runStep, type StepContext } from '../../node-agent/steps/step.ts';
import type { HostFacts } from '../../node-agent/steps/facts.ts';
import { effectiveConfig } from '../../node-agent/config/effective.ts';
import { exit, FakeHost, ok } from '../harness/fake-host.ts';
import { sampleConfig } from '../fixtures/configs.ts';

const ACTIVATION = { activationId: '11111111-2222-3333-4444-555555555555', activationCode: 'SECRET-activation-code-1' };

function agentConfig(spec: Parameters<typeof sampleConfig>[1] = {}): NodeAgentConfig {
  // as the operator renders it into the revision ConfigMap, and the node agent parses it
  const config = sampleConfig('c', { registration: { mode: 'Hybrid', deregisterOnNodeDelete: true, activation: { secretRef: { name: 'act' } } }, ...spec });
  const parsed = parseNodeAgentConfig(JSON.stringify(renderNodeAgentConfig(config)));
  assert.ok(parsed.ok);
  return parsed.config;
}

function context(host: FakeHost, config: NodeAgentConfig, facts: HostFacts = {}, secrets: Record<string, string> = {}): StepContext {
  let now = 1_000_000;
  return {
    host,
    config,
    facts: { installedVersion: '3.3.1142.0', packageManager: 'dpkg', ...facts },
    effective: effectiveConfig(config, { activation: { ...ACTIVATION, ...secrets } }),
    now: () => (now += 1000),
  };
}

const REGISTERED = '{"ManagedInstanceID":"mi-0123456789abcdef0","Region":"us-east-1"}';

function registeringHost(result: (argv: string[]) => { code: number; stdout: string; stderr: string } | 'timeout', writes = true): FakeHost {
  const host = new FakeHost();
  host.on((argv, _opts, h) => {
    if (!argv[1] || argv[1] !== '-register') return undefined;
    const r = result(argv);
    if (r === 'timeout') throw new Error(`${argv[0]} timed out after ${REGISTER_TIMEOUT_MS} ms`);
    if (r.code === 0 && writes) void h.writeFileAtomic('/var/lib/amazon/ssm/registration', REGISTERED, 0o600);
    return r;
  });
  return host;
}

test('-register gets the effective https_proxy, http_proxy and no_proxy (and nothing secret in argv order changes)', async () => {
  const host = registeringHost(() => ok('Successfully registered the instance with AWS SSM using Managed instance-id: mi-0123456789abcdef0'));
  const config = agentConfig({ proxy: { httpsProxy: 'http://proxy.corp:3128', httpProxy: 'http://proxy.corp:3129', noProxy: ['.corp'] } });
  const outcome = await runStep(createRegisterStep(), context(host, config));
  assert.equal(outcome.status, 'changed', JSON.stringify(outcome));
  const reg = host.commands.find((c) => c.argv[1] === '-register');
  assert.deepEqual(reg?.opts.env, { https_proxy: 'http://proxy.corp:3128', http_proxy: 'http://proxy.corp:3129', no_proxy: '.corp,169.254.169.254' });
  assert.ok((reg?.opts.timeoutMs ?? 0) > 3 * 60_000, 'longer than the agent\'s own 3 × 60 s');
});

test('-register without a proxy gets no proxy variables', async () => {
  const host = registeringHost(() => ok());
  await runStep(createRegisterStep(), context(host, agentConfig()));
  const reg = host.commands.find((c) => c.argv[1] === '-register');
  assert.equal(reg?.opts.env?.https_proxy, undefined);
  assert.equal(reg?.opts.env?.http_proxy, undefined);
});

test('a -register that times out is a counted failure with backoff, and the service is started again', async () => {
  const host = registeringHost(() => 'timeout');
  const step = createRegisterStep();
  const ctx = context(host, agentConfig());
  const first = await runStep(step, ctx);
  assert.equal(first.status, 'failed');
  assert.equal(first.reason, 'RegistrationTimedOut');
  assert.match(first.message ?? '', /did not finish/);
  const ran = host.ran();
  const stop = ran.indexOf('systemctl stop amazon-ssm-agent.service');
  const start = ran.indexOf('systemctl start amazon-ssm-agent.service');
  assert.ok(stop >= 0 && start > stop, ran.join('\n'));
  // counted: the next pass waits instead of registering again
  const second = await runStep(step, ctx);
  assert.equal(second.status, 'failed');
  assert.match(second.message ?? '', /next attempt in \d+ s/);
  assert.equal(host.commands.filter((c) => c.argv[1] === '-register').length, 1);
});

test('a failed start after -register is reported, and the registration failure is still counted', async () => {
  const host = registeringHost(() => exit(1, '2026-01-01 00:00:00.0000 ERROR Registration failed due to error registering the instance with AWS SSM. InvalidActivation: \n'));
  host.on((argv) => (argv[1] === 'start' ? exit(1, '', 'Failed to start amazon-ssm-agent.service') : undefined));
  const outcome = await runStep(createRegisterStep(), context(host, agentConfig()));
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.reason, 'InvalidActivation');
  assert.match(outcome.message ?? '', /start.*failed|Failed to start/i);
});

test('failure detail: the "Registration failed due to" line and its "caused by:" lines, not the config-override noise', () => {
  const stdout = [
    'Error occurred fetching the seelog config file path:  open /etc/amazon/ssm/seelog.xml: no such file or directory',
    'Initializing new seelog logger',
    'New Seelog Logger Creation Complete',
    'Applying config override from /etc/amazon/ssm/amazon-ssm-agent.json.',
    '2026-12-01 20:49:23.6544 ERROR Registration failed due to error registering the instance with AWS SSM. RequestError: send request failed',
    'caused by: Post "https://ssm.eu-west-1.amazonaws.com/": proxyconnect tcp: dial tcp 10.0.0.1:3128: connect: connection refused',
    'Applying config override from /etc/amazon/ssm/amazon-ssm-agent.json.',
  ].join('\n');
  const stderr = '2026/12/01 20:49:23 Found config file at /etc/amazon/ssm/amazon-ssm-agent.json.\n2026/12/01 20:49:23 processing appconfig overrides\n';
  const r = classifyRegisterFailure(`${stdout}\n${stderr}`, []);
  assert.equal(r.reason, 'RegistrationUnreachable');
  assert.match(r.message, /Registration failed due to error registering the instance with AWS SSM\. RequestError: send request failed \| caused by: Post "https:\/\/ssm\.eu-west-1\.amazonaws\.com\/": proxyconnect tcp/);
  assert.doesNotMatch(r.message, /config override|appconfig|seelog/);
  const expired = classifyRegisterFailure('2026-12-01 00:00:00.0000 ERROR Registration failed due to error registering the instance with AWS SSM. ActivationExpired: SECRET\n\tstatus code: 400, request id: abc\n2026/12/01 processing appconfig overrides', ['SECRET']);
  assert.equal(expired.reason, 'ActivationExpired');
  assert.match(expired.message, /ActivationExpired: \[REDACTED\] \| status code: 400, request id: abc\)$/);
  // no such line: the last lines, as before
  assert.match(classifyRegisterFailure('something odd\nhappened', []).message, /something odd \| happened/);
});

test('a snap host runs the snap\'s binary', async () => {
  assert.equal(agentBinary(true), '/snap/amazon-ssm-agent/current/amazon-ssm-agent');
  assert.equal(agentBinary(false), '/usr/bin/amazon-ssm-agent');
  const host = registeringHost(() => ok());
  await runStep(createRegisterStep(), context(host, agentConfig(), { snapAgent: true }));
  const reg = host.commands.find((c) => c.argv[1] === '-register');
  assert.equal(reg?.argv[0], '/snap/amazon-ssm-agent/current/amazon-ssm-agent');
  assert.ok(host.ran().includes('systemctl start snap.amazon-ssm-agent.amazon-ssm-agent.service'));
});

test('an earlier -register still running on the host (its node agent was killed): wait for it, and once it registered the host, do not register again; the service is started', async () => {
  const host = registeringHost(() => ok());
  let polls = 0;
  // The orphaned -register runs for three polls, then its answer arrives and it writes the registration.
  host.on((argv, _opts, h) => {
    if (argv[0] !== 'pgrep') return undefined;
    if (++polls <= 3) return ok('4242\n');
    void h.writeFileAtomic('/var/lib/amazon/ssm/registration', REGISTERED, 0o600);
    return exit(1);
  });
  const outcome = await runStep(createRegisterStep(), context(host, agentConfig()));
  assert.equal(outcome.status, 'changed', JSON.stringify(outcome));
  assert.equal(polls, 4);
  assert.equal(host.commands.filter((c) => c.argv[1] === '-register').length, 0, 'no second -register: one managed instance');
  assert.ok(host.ran().includes('systemctl start amazon-ssm-agent.service'), 'the service its killed node agent had stopped runs again');
});

test('an earlier -register that ends without registering: this pass registers', async () => {
  const host = registeringHost(() => ok());
  let polls = 0;
  host.on((argv) => (argv[0] === 'pgrep' ? (++polls === 1 ? ok('4242\n') : exit(1)) : undefined));
  const outcome = await runStep(createRegisterStep(), context(host, agentConfig()));
  assert.equal(outcome.status, 'changed', JSON.stringify(outcome));
  assert.equal(host.commands.filter((c) => c.argv[1] === '-register').length, 1);
});

test('the earlier-register pattern matches the agent (and the stand-in script) but not the nsenter that runs pgrep', async () => {
  const { EARLIER_REGISTER_PATTERN } = await import('../../node-agent/steps/register.ts');
  const re = new RegExp(EARLIER_REGISTER_PATTERN);
  for (const yes of ['/usr/bin/amazon-ssm-agent -register -y -id x -code y -region eu-west-1', '/bin/bash /usr/bin/amazon-ssm-agent -register -y', '/snap/amazon-ssm-agent/current/amazon-ssm-agent -register']) assert.match(yes, re, yes);
  for (const no of [`nsenter -t 1 -m -u -i -n -p -- pgrep -f -- ${EARLIER_REGISTER_PATTERN}`, 'nsenter -t 1 -m -u -i -n -p -- /usr/bin/amazon-ssm-agent -register -y', '/usr/bin/amazon-ssm-agent', '/usr/bin/amazon-ssm-agent -registerx']) assert.doesNotMatch(no, re, no);
});

test('a bad proxy Secret fails registration as ProxySecretInvalid before the agent is stopped; nothing runs', async () => {
  const host = registeringHost(() => ok());
  const config = agentConfig({ proxy: { secretRef: { name: 'corp-proxy' }, noProxy: [] } });
  const ctx = context(host, config);
  // The Secret is mounted but holds a value that is no proxy URL: a newline would be a new directive.
  const bad = { ...ctx, effective: effectiveConfig(config, { activation: ACTIVATION, proxy: { httpsProxy: 'http://proxy.corp:3128\nExecStartPre=/bin/sh' } }) };
  assert.equal(bad.effective.proxy.ok, false, 'the harness gives a bad proxy');
  const outcome = await runStep(createRegisterStep(), bad);
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.reason, 'ProxySecretInvalid', JSON.stringify(outcome));
  assert.match(outcome.message ?? '', /corp-proxy/);
  assert.deepEqual(host.ran().filter((c) => c.startsWith('systemctl stop') || c.includes('-register')), [], 'the agent was neither stopped nor asked to register');
});
