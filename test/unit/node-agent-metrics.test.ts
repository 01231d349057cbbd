import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { createNodeAgentMetrics, recordPass } from '../../node-agent/agent/metrics.ts';
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

test('metrics reflect the last pass only: a step absent from it has no gauges; the agent\'s own health and its reason', async () => {
  const m = createNodeAgentMetrics();
  const base = report();
  recordPass(
    m,
    {
      ...base,
      outcomes: [...base.outcomes, { step: 'agent-health', status: 'failed' as const, reason: 'CredentialsUnavailable', message: 'denied' }],
      health: { healthy: false, problem: { reason: 'CredentialsUnavailable' as const, code: 'AccessDeniedException', detail: 'x', fix: 'y' } },
    },
    'Hybrid',
  );
  let text = await m.registry.metrics();
  assert.match(text, /^ssm_agent_healthy 0$/m);
  assert.match(text, /^ssm_agent_health_problem\{reason="CredentialsUnavailable",code="AccessDeniedException"\} 1$/m);
  assert.match(text, /^ssm_node_agent_step_status\{step="agent-health",status="failed"\} 1$/m);
  execFileSync('/usr/bin/promtool', ['check', 'metrics'], { input: text });

  // an Uninstall pass: other steps, no health
  recordPass(m, { at: new Date(), facts: {}, outcomes: [{ step: 'detect', status: 'ok' as const }, { step: 'uninstall', status: 'changed' as const }] }, 'Hybrid');
  text = await m.registry.metrics();
  assert.doesNotMatch(text, /ssm_node_agent_step_status\{step="install"/, 'install did not run in the last pass');
  assert.doesNotMatch(text, /ssm_node_agent_step_status\{step="agent-health"/);
  assert.match(text, /^ssm_node_agent_step_status\{step="uninstall",status="changed"\} 1$/m);
  assert.doesNotMatch(text, /^ssm_agent_healthy /m, 'no agent, no health');
  assert.doesNotMatch(text, /^ssm_agent_health_problem\{/m);
  // the failure counters stay (counters count; gauges describe now)
  assert.match(text, /^ssm_node_agent_step_failures_total\{step="agent-health",reason="CredentialsUnavailable"\} 1$/m);
});
