// deletionPolicy Uninstall: which selected nodes have confirmed, over the fleet channel, that the agent is gone.
// Pure. Nodes that never confirm (down, no node agent) must not block deletion forever: after the timeout the
// finalizer goes on and says which nodes were not confirmed.
import type { FleetEntry } from '../fleet/fleet-store.ts';

export const UNINSTALL_TIMEOUT_MS = 10 * 60_000;

export type UninstallProgress = { done: true; unconfirmed: string[] } | { done: false; waitingFor: string[] };

/**
 * A node has confirmed when its last pass ran the uninstall step successfully and no agent version is left, or when
 * its agent is nodeadm's (EKS Hybrid Nodes), which the uninstall leaves in place by design.
 */
export function uninstallConfirmed(entry: FleetEntry | undefined): boolean {
  const step = entry?.state.steps?.find((s) => s.step === 'uninstall');
  if (step?.status === 'skipped' && step.reason === 'ManagedByNodeadm') return true;
  return step !== undefined && (step.status === 'ok' || step.status === 'changed') && !entry?.state.observation?.version;
}

export function uninstallProgress(selectedNodes: string[], entries: FleetEntry[], startedAtMs: number, nowMs: number, timeoutMs = UNINSTALL_TIMEOUT_MS): UninstallProgress {
  const byNode = new Map(entries.map((e) => [e.node, e]));
  const waiting = selectedNodes.filter((n) => !uninstallConfirmed(byNode.get(n))).sort();
  if (waiting.length === 0) return { done: true, unconfirmed: [] };
  if (nowMs - startedAtMs >= timeoutMs) return { done: true, unconfirmed: waiting };
  return { done: false, waitingFor: waiting };
}
