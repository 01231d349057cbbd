// One registry for the operator process; metric names are a contract (DESIGN.md).
import { Counter, Gauge, Histogram, Registry } from '../lib/prom.ts';
import { registerBuildInfo } from '../lib/build-info.ts';
import { collectProcessMetrics } from '../lib/process-metrics.ts';

export function createOperatorMetrics() {
  const registry = new Registry();
  // Standard process_* and nodejs_* names, unprefixed: the scrape's `job` tells the operator from the node agents.
  collectProcessMetrics(registry);
  registerBuildInfo(registry, 'ssm_operator_build_info', 'operator');
  return {
    registry,
    reconcileTotal: new Counter({
      name: 'ssm_operator_reconcile_total',
      help: 'Reconciles by controller and result (success, error, requeue).',
      labelNames: ['controller', 'result'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'ssm_operator_reconcile_duration_seconds',
      help: 'Duration of one reconcile.',
      labelNames: ['controller'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    nodes: new Gauge({
      name: 'ssm_operator_nodes',
      help: 'Nodes of each SsmAgentConfig by state: desired, ready, updated (DaemonSet), installed, registered, failing (node agents), online (Systems Manager PingStatus Online, not whether the service runs: that is ssm_agent_up).',
      labelNames: ['config', 'state'] as const,
      registers: [registry],
    }),
    workQueueDepth: new Gauge({
      name: 'ssm_operator_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      labelNames: ['controller'] as const,
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: 'ssm_operator_informer_restarts_total',
      help: 'Times an informer failed and was restarted by its supervisor.',
      labelNames: ['informer'] as const,
      registers: [registry],
    }),
    leader: new Gauge({ name: 'ssm_operator_leader', help: '1 when this replica holds the leader lease.', registers: [registry] }),
    activationExpiry: new Gauge({
      name: 'ssm_operator_activation_expiry_timestamp_seconds',
      help: 'When the hybrid activation of each SsmAgentConfig expires.',
      labelNames: ['config'] as const,
      registers: [registry],
    }),
    activationRegistrationsUsed: new Gauge({
      name: 'ssm_operator_activation_registrations_used',
      help: 'Registrations used of the hybrid activation of each SsmAgentConfig.',
      labelNames: ['config'] as const,
      registers: [registry],
    }),
    activationRegistrationsLimit: new Gauge({
      name: 'ssm_operator_activation_registrations_limit',
      help: 'Registration limit of the hybrid activation of each SsmAgentConfig.',
      labelNames: ['config'] as const,
      registers: [registry],
    }),
    instancesDeregistered: new Counter({
      name: 'ssm_operator_instances_deregistered_total',
      help: 'Managed instances deregistered, by config and reason (NodeDeleted, NodeReplaced, DuplicateRegistration, ConfigUninstalled).',
      labelNames: ['config', 'reason'] as const,
      registers: [registry],
    }),
    configConditions: new Gauge({
      name: 'ssm_operator_config_condition',
      help: 'Status of each condition of each SsmAgentConfig (1 for the current status).',
      labelNames: ['config', 'type', 'status'] as const,
      registers: [registry],
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
