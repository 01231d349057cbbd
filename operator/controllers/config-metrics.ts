// The per-config gauges a reconcile leaves behind (node counts, activation expiry and use, conditions), set from
// the status it wrote and removed with the config, so a deleted config stops showing in /metrics.
import type { SsmAgentConfigStatus } from '../api/types.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';

export function recordConfigMetrics(metrics: OperatorMetrics, name: string, status: SsmAgentConfigStatus): void {
  for (const [state, value] of Object.entries(status.nodes ?? {})) metrics.nodes.set({ config: name, state }, value);
  const activation = status.activation;
  if (activation?.expiresAt) metrics.activationExpiry.set({ config: name }, Date.parse(activation.expiresAt) / 1000);
  if (activation?.registrationsUsed !== undefined) metrics.activationRegistrationsUsed.set({ config: name }, activation.registrationsUsed);
  if (activation?.registrationLimit !== undefined) metrics.activationRegistrationsLimit.set({ config: name }, activation.registrationLimit);
  for (const c of status.conditions ?? []) {
    for (const s of ['True', 'False', 'Unknown']) metrics.configConditions.set({ config: name, type: c.type, status: s }, c.status === s ? 1 : 0);
  }
}

export function forgetConfigMetrics(metrics: OperatorMetrics, name: string): void {
  metrics.nodes.remove({ config: name });
  metrics.activationExpiry.remove({ config: name });
  metrics.activationRegistrationsUsed.remove({ config: name });
  metrics.activationRegistrationsLimit.remove({ config: name });
  metrics.configConditions.remove({ config: name });
}
