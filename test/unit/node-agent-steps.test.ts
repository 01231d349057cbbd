import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderRevision } from '../../operator/manifests/revision.ts';
import { renderAgentConfigFile, renderProxyDropIn } from '../../node-agent/steps/agent-config-file.ts';
import { installPlan } from '../../node-agent/steps/install.ts';
import { upstreamVersion } from '../../node-agent/steps/installed-version.ts';
import { debArch, immutableOsAdvice, parseOsRelease } from '../../node-agent/steps/os-release.ts';
import { registrationNeed } from '../../node-agent/steps/register.ts';
import { classifyRegisterFailure, parseRegistration } from '../../node-agent/steps/registration.ts';
import { sampleConfig } from '../fixtures/configs.ts';

function agentConfig(spec: Parameters<typeof sampleConfig>[1] = {}) {
  const rev = renderRevision({ config: sampleConfig('c', spec), context: { namespace: 'ns', nodeAgentImage: 'img' } });
  const parsed = parseNodeAgentConfig(rev.configJson);
  assert.ok(parsed.ok);
  return parsed.config;
}

test('os-release: quoted values, ID_LIKE, and immutable OSes get advice', () => {
  const os = parseOsRelease('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 24.04 LTS"\nVERSION_ID="24.04"\n');
  assert.deepEqual([os.id, os.versionId, os.prettyName, os.idLike], ['ubuntu', '24.04', 'Ubuntu 24.04 LTS', ['debian']]);
  assert.equal(immutableOsAdvice(os, false), undefined);
  assert.match(immutableOsAdvice(parseOsRelease('ID=bottlerocket\n'), false) ?? '', /control container/);
  assert.match(immutableOsAdvice(parseOsRelease('ID=talos\n'), false) ?? '', /Talos/);
  assert.match(immutableOsAdvice(parseOsRelease('ID=flatcar\n'), false) ?? '', /sysext/);
  assert.match(immutableOsAdvice(parseOsRelease('ID=fedora\nPRETTY_NAME="Fedora Silverblue"'), true) ?? '', /rpm-ostree/);
  assert.equal(debArch('x86_64\n'), 'amd64');
  assert.equal(debArch('aarch64'), 'arm64');
  assert.equal(debArch('riscv64'), undefined);
});

test('amazon-ssm-agent.json: sets only what the operator manages and keeps the rest', () => {
  const config = agentConfig({ endpoints: { ssm: 'vpce-1.ssm.us-east-1.vpce.amazonaws.com' } });
  const existing = JSON.stringify({ Agent: { Region: 'us-east-1', TelemetryMetricsToCloudWatch: true }, Os: { Lang: 'en-US' } });
  const doc = JSON.parse(renderAgentConfigFile(config, existing)) as Record<string, Record<string, unknown>>;
  assert.equal(doc.Agent?.SelfUpdate, false);
  assert.equal(doc.Agent?.TelemetryMetricsToCloudWatch, true, 'unmanaged keys are kept');
  assert.equal(doc.Os?.Lang, 'en-US');
  assert.equal(doc.Ssm?.Endpoint, 'vpce-1.ssm.us-east-1.vpce.amazonaws.com');
  assert.equal(doc.Mds?.Endpoint, '', 'a default endpoint is left for the agent to derive');
  assert.equal(renderAgentConfigFile(config, renderAgentConfigFile(config, existing)), renderAgentConfigFile(config, existing), 'idempotent');
  assert.doesNotThrow(() => JSON.parse(renderAgentConfigFile(config, '{not json')));
});

test('proxy drop-in: lowercase variables, IMDS always bypassed, systemd quoting; none without a proxy', () => {
  const config = agentConfig({ proxy: { httpsProxy: 'http://proxy.corp:3128', noProxy: ['.corp'] } });
  const text = renderProxyDropIn(config.proxy) ?? '';
  assert.match(text, /^\[Service\]$/m);
  assert.match(text, /^Environment="https_proxy=http:\/\/proxy\.corp:3128"$/m);
  assert.match(text, /^Environment="no_proxy=\.corp,169\.254\.169\.254"$/m);
  assert.doesNotMatch(text, /HTTPS_PROXY/);
  assert.equal(renderProxyDropIn(agentConfig().proxy), undefined);
  assert.match(renderProxyDropIn({ httpsProxy: 'http://u:p%40ss@h:1', noProxy: [] }) ?? '', /p%%40ss/, '% is escaped for systemd');
});

test('registration file and register errors', () => {
  assert.deepEqual(parseRegistration('{"ManagedInstanceID":"mi-0123456789abcdef0","Region":"eu-west-1"}'), { instanceId: 'mi-0123456789abcdef0', region: 'eu-west-1' });
  assert.equal(parseRegistration('{}'), undefined);
  assert.equal(parseRegistration('garbage'), undefined);
  assert.equal(parseRegistration(undefined), undefined);
  const expired = classifyRegisterFailure('Error occurred fetching the seelog config\nRegistration failed due to error registering the instance with AWS SSM. ActivationExpired: Activation expired SECRET-CODE', ['SECRET-CODE']);
  assert.equal(expired.reason, 'ActivationExpired');
  assert.doesNotMatch(expired.message, /SECRET-CODE/);
  assert.equal(classifyRegisterFailure('InvalidActivation: Activation ID or code is not valid', []).reason, 'InvalidActivation');
  assert.equal(classifyRegisterFailure('RegistrationLimitExceeded: Registration limit of 10 reached', []).reason, 'RegistrationLimitExceeded');
  assert.equal(classifyRegisterFailure('something else', []).reason, 'RegistrationFailed');
});

test('registration need: never re-register in the same region; EC2 uses its instance profile', () => {
  assert.equal(registrationNeed('Hybrid', false, { region: 'us-east-1' }, 'us-east-1').register, false);
  assert.equal(registrationNeed('Hybrid', false, { region: 'eu-west-1' }, 'us-east-1').register, true);
  assert.equal(registrationNeed('Hybrid', false, undefined, 'us-east-1').register, true);
  assert.equal(registrationNeed('Hybrid', true, undefined, 'us-east-1').register, true, 'Hybrid registers even on EC2');
  assert.equal(registrationNeed('Auto', true, undefined, 'us-east-1').register, false);
  assert.equal(registrationNeed('Auto', false, undefined, 'us-east-1').register, true);
  assert.equal(registrationNeed('EC2', false, undefined, 'us-east-1').register, false);
});

test('install plan: install, upgrade, downgrade, adopt and replace', () => {
  assert.deepEqual(installPlan({ installed: undefined, desired: '3.3.1.0', existingInstall: 'Adopt', installedByUs: false }).action, 'install');
  assert.deepEqual(installPlan({ installed: '3.3.1.0', desired: '3.3.2.0', existingInstall: 'Adopt', installedByUs: true }).action, 'install');
  assert.deepEqual(installPlan({ installed: '3.3.2.0', desired: '3.3.1.0', existingInstall: 'Adopt', installedByUs: true }).action, 'install');
  assert.deepEqual(installPlan({ installed: '3.3.1.0', desired: '3.3.1.0', existingInstall: 'Adopt', installedByUs: false }).action, 'none');
  assert.deepEqual(installPlan({ installed: '3.3.1.0', desired: '3.3.1.0', existingInstall: 'Replace', installedByUs: false }).action, 'install');
  assert.deepEqual(installPlan({ installed: '3.3.1.0', desired: '3.3.1.0', existingInstall: 'Replace', installedByUs: true }).action, 'none');
  assert.equal(upstreamVersion('3.3.1142.0-1'), '3.3.1142.0');
  assert.equal(upstreamVersion('3.3.1142.0'), '3.3.1142.0');
});
