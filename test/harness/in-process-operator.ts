// The operator inside the test process, against a test environment's control plane: the settings the chart would
// give it (free ports, no leader election), plus what a test overrides.
import type { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { startOperator, type Operator } from '../../operator/manager/manager.ts';
import { readSettings } from '../../operator/settings.ts';
import { freePort } from './control-plane.ts';
import { NAMESPACE, type OperatorTestEnv } from './operator-env.ts';

export interface InProcessOperator {
  operator: Operator;
  httpPort: number;
  fleetPort: number;
  metricsUrl: string;
}

export interface InProcessOperatorOptions {
  /** Whose credentials the operator uses; default the control plane's admin. The chart's own: chart-rbac.ts. */
  kubeConfig?: KubeConfig;
  log?: Logger;
}

export async function startInProcessOperator(env: OperatorTestEnv, overrides: Record<string, string> = {}, opts: InProcessOperatorOptions = {}): Promise<InProcessOperator> {
  const httpPort = await freePort();
  const fleetPort = await freePort();
  const parsed = readSettings({
    POD_NAMESPACE: NAMESPACE,
    NODE_AGENT_IMAGE: 'example.com/ssm-agent-operator:test',
    HTTP_PORT: String(httpPort),
    FLEET_PORT: String(fleetPort),
    FLEET_ADVERTISE_ADDRESS: '127.0.0.1',
    LEADER_ELECTION: 'false',
    ...overrides,
  });
  if (!parsed.ok) throw new Error(`bad operator settings: ${parsed.errors.join('; ')}`);
  const operator = await startOperator(opts.kubeConfig ?? env.cp.kubeConfig(), parsed.settings, opts.log ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  return { operator, httpPort, fleetPort: parsed.settings.fleetPort, metricsUrl: `http://127.0.0.1:${httpPort}/metrics` };
}
