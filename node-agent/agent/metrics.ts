// The node agent's host metrics (contract names, DESIGN.md). One registry per process; the probe metrics
// register on the same registry.
import { Counter, Gauge, Registry } from '../../operator/lib/prom.ts';
import { registerBuildInfo } from '../../operator/lib/build-info.ts';
import { collectProcessMetrics } from '../../operator/lib/process-metrics.ts';
import type { PassReport } from './pass.ts';
import type { Readiness } from './readiness.ts';

export function createNodeAgentMetrics(registry = new Registry()) {
  // Standard process_* and nodejs_* names, unprefixed: the scrape's `job` tells the node agents from the operator.
  collectProcessMetrics(registry);
  registerBuildInfo(registry, 'ssm_node_agent_build_info', 'node agent');
  const m = {
    registry,
    info: new Gauge({
      name: 'ssm_agent_info',
      help: 'The agent on this node: 1 for its version, install method, registration mode and managed instance id.',
      labelNames: ['version', 'install_method', 'registration_mode', 'instance_id'] as const,
      registers: [registry],
    }),
    up: new Gauge({ name: 'ssm_agent_up', help: "1 when the amazon-ssm-agent service is active on the host (systemd), whatever Systems Manager sees; SSM's own PingStatus Online is the operator's ssm_operator_nodes{state=\"online\"}.", registers: [registry] }),
    registered: new Gauge({ name: 'ssm_agent_registered', help: '1 when the host is registered with Systems Manager (hybrid: has a managed instance id; EC2: has an instance identity).', registers: [registry] }),
    versionMatch: new Gauge({ name: 'ssm_agent_desired_version_match', help: '1 when the installed agent version is the desired one.', registers: [registry] }),
    healthy: new Gauge({
      name: 'ssm_agent_healthy',
      help: 'What the agent itself logs: 1 when it reports no problem with its identity, role credentials, health ping or message channels; 0 with the reason in ssm_agent_health_problem. Absent when the agent is not installed.',
      registers: [registry],
    }),
    healthProblem: new Gauge({
      name: 'ssm_agent_health_problem',
      help: '1 for the problem the agent reports (reason: IdentityMissing, CredentialsUnavailable, PingFailed, MessagingUnreachable; code: the AWS error code, when it gave one).',
      labelNames: ['reason', 'code'] as const,
      registers: [registry],
    }),
    stepFailures: new Counter({
      name: 'ssm_node_agent_step_failures_total',
      help: 'Failed host steps by step and reason.',
      labelNames: ['step', 'reason'] as const,
      registers: [registry],
    }),
    stepStatus: new Gauge({
      name: 'ssm_node_agent_step_status',
      help: '1 for the status of each host step in the last pass (ok, changed, skipped, failed, unsupported).',
      labelNames: ['step', 'status'] as const,
      registers: [registry],
    }),
    lastPass: new Gauge({ name: 'ssm_node_agent_last_pass_timestamp_seconds', help: 'When the last pass over the host finished.', registers: [registry] }),
    converged: new Gauge({ name: 'ssm_node_agent_converged', help: '1 when the last pass converged the host to this pod\'s revision (the pod is ready).', registers: [registry] }),
    notConverged: new Gauge({
      name: 'ssm_node_agent_not_converged',
      help: '1 for the step and reason that keep the host from converging (the pod unready); no series when converged.',
      labelNames: ['step', 'reason'] as const,
      registers: [registry],
    }),
    configValid: new Gauge({ name: 'ssm_node_agent_config_valid', help: '1 when the configuration rendered by the operator was read and is valid.', registers: [registry] }),
  };
  return m;
}

export type NodeAgentMetrics = ReturnType<typeof createNodeAgentMetrics>;

const STATUSES = ['ok', 'changed', 'skipped', 'failed', 'unsupported'] as const;

export function recordPass(m: NodeAgentMetrics, report: PassReport, registrationMode: string): void {
  // The gauges describe the last pass only: a step that did not run in it (e.g. after an Uninstall) has none.
  m.stepStatus.reset();
  for (const o of report.outcomes) {
    for (const s of STATUSES) m.stepStatus.set({ step: o.step, status: s }, o.status === s ? 1 : 0);
    if (o.status === 'failed') m.stepFailures.inc({ step: o.step, reason: o.reason ?? 'Error' });
  }
  const obs = report.observation;
  const ec2 = report.facts.ec2;
  const instanceId = obs?.registration?.instanceId ?? ec2?.instanceId ?? '';
  m.info.reset();
  if (obs?.version) {
    const method = report.facts.snapAgent ? 'snap' : (report.facts.packageManager ?? 'unknown');
    const mode = obs.registration ? 'hybrid' : ec2 ? 'ec2' : registrationMode === 'EC2' ? 'ec2' : 'none';
    m.info.set({ version: obs.version, install_method: method, registration_mode: mode, instance_id: instanceId }, 1);
  }
  m.up.set(obs?.serviceActive ? 1 : 0);
  m.registered.set(instanceId ? 1 : 0);
  m.versionMatch.set(obs?.version && obs.version === report.facts.desiredVersion ? 1 : 0);
  m.healthProblem.reset();
  if (report.health) {
    m.healthy.set(report.health.healthy ? 1 : 0);
    const p = report.health.problem;
    if (p) m.healthProblem.set({ reason: p.reason, code: p.code ?? '' }, 1);
  } else {
    m.healthy.remove();
  }
  m.lastPass.set(report.at.getTime() / 1000);
}

export function recordReadiness(m: NodeAgentMetrics, r: Readiness): void {
  m.converged.set(r.ready ? 1 : 0);
  m.notConverged.reset();
  if (!r.ready) m.notConverged.set({ step: r.step, reason: r.reason }, 1);
}
