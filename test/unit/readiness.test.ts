// Readiness = converged: a node agent is ready only when its last pass converged its host to its revision.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { renderRevision } from '../../operator/manifests/revision.ts';
import { convergence, readinessText } from '../../node-agent/agent/readiness.ts';
import type { PassReport } from '../../node-agent/agent/pass.ts';
import { sampleConfig } from '../fixtures/configs.ts';

function agentConfig(spec: Parameters<typeof sampleConfig>[1] = {}) {
  const parsed = parseNodeAgentConfig(renderRevision({ config: sampleConfig('c', spec), context: { namespace: 'ns', nodeAgentImage: 'img' } }).configJson);
  assert.ok(parsed.ok);
  return parsed.config;
}
const hybrid = agentConfig({ registration: { mode: 'Hybrid', activation: { secretRef: { name: 'a' } }, deregisterOnNodeDelete: true } });
const ok = ['detect', 'install', 'configure', 'ssm-user', 'register', 'observe'].map((step) => ({ step, status: 'ok' as const }));
const report = (over: Partial<PassReport> = {}): PassReport => ({
  at: new Date(0),
  facts: { desiredVersion: '3.3.1.0' },
  outcomes: ok,
  observation: { serviceActive: true, version: '3.3.1.0', registration: { instanceId: 'mi-1', region: 'us-east-1' } },
  ...over,
});

test('a converged hybrid host is ready', () => {
  const r = convergence(report(), hybrid);
  assert.equal(r.ready, true);
  assert.match(readinessText(r, 'abc'), /^revision abc: converged: amazon-ssm-agent 3\.3\.1\.0 active, mi-1$/);
});

test('each unconverged part keeps the pod unready with the step and reason', () => {
  const cases: [PassReport | undefined, string, string][] = [
    [undefined, 'pass', 'NoPassYet'],
    [report({ outcomes: [...ok.slice(0, 1), { step: 'install', status: 'failed', reason: 'SignatureInvalid', message: 'bad signature' }] }), 'install', 'SignatureInvalid'],
    [report({ outcomes: [{ step: 'detect', status: 'unsupported', reason: 'ImmutableOs', message: 'Bottlerocket' }] }), 'detect', 'ImmutableOs'],
    [report({ observation: { serviceActive: true, version: '3.3.0.0', registration: { instanceId: 'mi-1', region: 'us-east-1' } } }), 'install', 'VersionMismatch'],
    [report({ observation: { serviceActive: true } }), 'install', 'NotInstalled'],
    [report({ observation: { serviceActive: false, version: '3.3.1.0', registration: { instanceId: 'mi-1', region: 'us-east-1' } } }), 'observe', 'AgentNotRunning'],
    [report({ observation: { serviceActive: true, version: '3.3.1.0' } }), 'register', 'NotRegistered'],
    [report({ observation: { serviceActive: true, version: '3.3.1.0', registration: { instanceId: 'mi-1', region: 'eu-west-1' } } }), 'register', 'WrongRegion'],
    [report({ observation: undefined }), 'observe', 'ObserveFailed'],
  ];
  for (const [r, step, reason] of cases) {
    const v = convergence(r, hybrid);
    assert.ok(!v.ready && v.step === step && v.reason === reason, `${step}/${reason}: got ${JSON.stringify(v)}`);
    assert.match(readinessText(v, undefined), new RegExp(`not converged: step ${step} ${reason}`));
  }
  const noConfig = convergence(report(), undefined, 'config.json is invalid: /region: required');
  assert.ok(!noConfig.ready && noConfig.reason === 'ConfigInvalid' && /region/.test(noConfig.message));
});

test('registration is required where it applies: Auto off EC2 and Hybrid, not Auto on EC2; EC2 mode needs an EC2 host', () => {
  const auto = agentConfig();
  const unregistered = { serviceActive: true, version: '3.3.1.0' };
  assert.equal(convergence(report({ observation: unregistered }), auto).ready, false, 'Auto off EC2 registers with an activation');
  assert.equal(convergence(report({ observation: unregistered, facts: { desiredVersion: '3.3.1.0', ec2: { instanceId: 'i-1', region: 'us-east-1' } } }), auto).ready, true);
  const ec2 = agentConfig({ registration: { mode: 'EC2', deregisterOnNodeDelete: true } });
  const notEc2 = convergence(report({ observation: unregistered }), ec2);
  assert.ok(!notEc2.ready && notEc2.reason === 'NotEc2');
});

test('an Uninstall revision is converged once the agent is gone', () => {
  const uninstall = { ...hybrid, action: 'Uninstall' as const };
  assert.equal(convergence(report({ observation: { serviceActive: false } }), uninstall).ready, true);
  assert.equal(convergence(report(), uninstall).ready, false);
});
