// Pure helpers around the activation step: which nodes still depend on an activation, and how its outcome goes
// into a config's status (status.activation and the ActivationReady condition).
import type { Condition, SsmAgentConfigStatus } from '../api/types.ts';
import type { FleetEntry } from '../fleet/fleet-store.ts';
import type { ActivationReport, ActivationVerdict } from './plan.ts';

export const ACTIVATION_READY = 'ActivationReady';

/** Hybrid nodes that have not registered yet: they may still hold (or retry with) an older activation's code. */
export function pendingHybridRegistrations(entries: readonly Pick<FleetEntry, 'state'>[]): number {
  return entries.filter((e) => e.state.facts?.ec2 !== true && !e.state.observation?.instanceId).length;
}

/**
 * The status with the activation step's outcome in it: status.activation set (or removed when undefined) and the
 * ActivationReady condition set, its lastTransitionTime kept while its status does not change. `verdict` undefined
 * (the config uses no activation) removes both.
 */
export function withActivationStatus(status: SsmAgentConfigStatus, outcome: { condition?: ActivationVerdict; activation?: ActivationReport } | undefined, now: string, generation: number): SsmAgentConfigStatus {
  const { activation: _old, ...rest } = status;
  const others = (status.conditions ?? []).filter((c) => c.type !== ACTIVATION_READY);
  if (!outcome?.condition) return { ...rest, conditions: others };
  const old = status.conditions?.find((c) => c.type === ACTIVATION_READY);
  const { status: s, reason, message } = outcome.condition;
  const condition: Condition = {
    type: ACTIVATION_READY,
    status: s,
    observedGeneration: generation,
    lastTransitionTime: old && old.status === s ? old.lastTransitionTime : now,
    reason,
    message,
  };
  return { ...rest, conditions: [...others, condition], ...(outcome.activation ? { activation: outcome.activation } : {}) };
}
