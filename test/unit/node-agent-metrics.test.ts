import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { createNodeAgentMetrics, recordPass, recordReadiness } from '../../node-agent/agent/metrics.ts';
import { registerProbeMetrics } from '../../node-agent/probes/probe-metrics.ts';

function report(overrides: { version?: string; desired?: string; instanceId?: string; active?: boolean; failed?: boolean } = {}) {
  return {
    at: new Date('2026-11-26T10:00:00Z'),
    facts: { packageManager: 'dpkg' as const, desiredVersion: overrides.desired ?? '3.3.1.0' },
    outcomes: [
      { step: 'detect', status: 'ok' as const },
      overrides.failed ? { step: 'install', status: 'failed' as const, reason: 'SignatureInvalid', message: 'bad' } : { step: 'install', status: 'ok' as const },
    ],
    observation: {
      serviceActive: overrides.active ?? true,
      version: overrides.version ?? '3.3.1.0',
      ...(overrides.instanceId === '' ? {} : { registration: { instanceId: overrides.instanceId ?? 'mi-0123456789abcdef0', region: 'eu-west-1' } }),
    },
  };
}

test('node-agent metrics follow the pass and pass promtool check metrics', async () => {
  const m = createNodeAgentMetrics();
  const probes = registerProbeMetrics(m.registry);
  recordPass(m, report(), 'Hybrid');
  probes.update([
    { endpoint: 'ssm', host: 'ssm.eu-west-1.amazonaws.com', via: 'direct', ok: true, phases: { dns: 0.01, tcp: 0.02, tls: 0.05, http: 0.03 }, httpStatus: 404, at: new Date() },
    { endpoint: 'ec2messages', host: 'ec2messages.eu-west-1.amazonaws.com', via: 'proxy', ok: false, reason: 'proxy', message: 'CONNECT refused', phases: {}, at: new Date() },
  ]);
  let text = await m.registry.metrics();
  assert.match(text, /^ssm_agent_info\{version="3\.3\.1\.0",install_method="dpkg",registration_mode="hybrid",instance_id="mi-0123456789abcdef0"\} 1$/m);
  assert.match(text, /^ssm_agent_up 1$/m);
  assert.match(text, /^ssm_agent_registered 1$/m);
  assert.match(text, /^ssm_agent_desired_version_match 1$/m);
  assert.match(text, /^ssm_node_agent_step_status\{step="install",status="ok"\} 1$/m);
  execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: text });

  recordPass(m, report({ version: '3.3.0.9', active: false, instanceId: '', failed: true }), 'Hybrid');
  text = await m.registry.metrics();
  assert.match(text, /^ssm_agent_up 0$/m);
  assert.match(text, /^ssm_agent_registered 0$/m);
  assert.match(text, /^ssm_agent_desired_version_match 0$/m);
  assert.match(text, /^ssm_node_agent_step_failures_total\{step="install",reason="SignatureInvalid"\} 1$/m);
  assert.equal((text.match(/^ssm_agent_info\{/gm) ?? []).length, 1, 'one info series: the old version is gone');
  execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: text });
});

test('convergence metrics: converged 1, or 0 with one series naming the step and reason that block it', async () => {
  const m = createNodeAgentMetrics();
  recordReadiness(m, { ready: false, step: 'install', reason: 'NotFound', message: 'no package' });
  let text = await m.registry.metrics();
  assert.match(text, /^ssm_node_agent_converged 0$/m);
  assert.match(text, /^ssm_node_agent_not_converged\{step="install",reason="NotFound"\} 1$/m);
  execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: text });
  recordReadiness(m, { ready: true, detail: 'converged' });
  text = await m.registry.metrics();
  assert.match(text, /^ssm_node_agent_converged 1$/m);
  assert.doesNotMatch(text, /^ssm_node_agent_not_converged\{/m);
});
