// The rollout of a config's current revision over its nodes: what the DaemonSet should reference, whether the
// rollout is paused or halted, and the counts status shows. Pure: from the spec, the live DaemonSet's revision,
// the pods (the kubelet's readiness = "this host converged") and the node agents' reports.
//
// What moves nodes: only the DaemonSet controller, replacing a pod whose template is old. It replaces at most
// maxUnavailable unready pods at a time, and a pod is ready only when its host converged, so a failing revision
// stops by itself. A halt (more failures than spec.rollout.maxFailedNodes, which may be below maxUnavailable)
// switches the DaemonSet to updateStrategy OnDelete, so the controller replaces no further pod until the
// revision changes; pause keeps the DaemonSet exactly as last applied.
import type { SsmAgentConfigStatus } from '../api/types.ts';
import { nodeFailure, type FleetEntry } from '../fleet/fleet-store.ts';
import { ANNOTATION_REVISION } from '../manifests/names.ts';

export type RolloutStatus = NonNullable<SsmAgentConfigStatus['rollout']>;
export type RolloutState = RolloutStatus['state'];

export interface PodObservation {
  metadata?: { name?: string; annotations?: Record<string, string>; deletionTimestamp?: string | Date };
  spec?: { nodeName?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

export interface FailingNode {
  node: string;
  reason: string;
  message: string;
}

export interface RolloutInput {
  generation: number;
  paused: boolean;
  /** The revision the spec (and the referenced Secrets, and the resolved `latest`) render to now. */
  desiredRevision: string;
  /** The revision the live DaemonSet's template references, before this pass; undefined without one. */
  liveRevision?: string;
  previous?: RolloutStatus;
  /** Nodes that should run a node agent (the DaemonSet's desiredNumberScheduled). */
  desiredNodes: number;
  /** The DaemonSet controller has seen the live DaemonSet's current generation (its counts are about it). */
  daemonSetObserved: boolean;
  pods: readonly PodObservation[];
  fleet?: readonly FleetEntry[];
  /** spec.rollout.maxFailedNodes, or spec.daemonSet.maxUnavailable when unset. */
  maxFailedNodes: number | string;
}

export interface RolloutPlan {
  /** The revision the DaemonSet references after this pass; undefined: no DaemonSet yet (paused from the start). */
  target?: string;
  /** False while paused with a pending change: the live DaemonSet is left exactly as it is. */
  applyDaemonSet: boolean;
  /** Halted: the DaemonSet's updateStrategy becomes OnDelete, so no further pod is replaced. */
  halted: boolean;
  status?: RolloutStatus;
  /** Nodes failing on the target revision, oldest report first. */
  failing: FailingNode[];
}

export const podRevision = (pod: PodObservation): string | undefined => pod.metadata?.annotations?.[ANNOTATION_REVISION];
export const podReady = (pod: PodObservation): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** An int-or-percent of `total`, percentages rounded up (as the DaemonSet controller does for maxUnavailable). */
export function scaledCount(value: number | string, total: number): number {
  if (typeof value === 'number') return value;
  const m = /^([0-9]+)%$/.exec(value);
  if (m) return Math.ceil((Number(m[1]) * total) / 100);
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : 1;
}

function failingOn(target: string, pods: readonly PodObservation[], fleet: readonly FleetEntry[] | undefined): FailingNode[] {
  const reports = new Map((fleet ?? []).map((e) => [e.node, e]));
  const failing: { node: FailingNode; since: number }[] = [];
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || pod.metadata?.deletionTimestamp || podRevision(pod) !== target || podReady(pod)) continue;
    const report = reports.get(node);
    // A report counts only if it is about this revision: a node agent of the old pod may still be reporting.
    const reportedRevision = report?.state.facts?.revision;
    if (!report || (reportedRevision !== undefined && reportedRevision !== target)) continue;
    const failure = nodeFailure(report.state);
    if (failure) failing.push({ node: { node, reason: failure.reason, message: failure.message.slice(0, 512) }, since: report.failingSince ?? 0 });
  }
  return failing.sort((a, b) => a.since - b.since || a.node.node.localeCompare(b.node.node)).map((f) => f.node);
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const { paused, desiredRevision, liveRevision, previous } = input;
  if (paused && !liveRevision) return { applyDaemonSet: false, halted: false, failing: [] };
  const pending = paused && liveRevision !== desiredRevision ? desiredRevision : undefined;
  const target = pending ? (liveRevision as string) : desiredRevision;

  let previousRevision = previous?.currentRevision && previous.currentRevision !== target ? previous.currentRevision : previous?.previousRevision;
  if (liveRevision && liveRevision !== target) previousRevision = liveRevision;

  const live = input.pods.filter((p) => !p.metadata?.deletionTimestamp);
  const onTarget = live.filter((p) => podRevision(p) === target);
  const updated = onTarget.length;
  const converged = onTarget.filter(podReady).length;
  const failing = failingOn(target, input.pods, input.fleet);
  const limit = Math.max(1, scaledCount(input.maxFailedNodes, input.desiredNodes));
  const stillHalted = previous?.haltedRevision === target && previous.haltedGeneration === input.generation;
  // Only a rollout in progress halts: with every node on the target there is nothing left to stop.
  const newlyHalted = updated < input.desiredNodes && failing.length >= limit;
  const halted = !paused && (stillHalted || newlyHalted);

  let state: RolloutState;
  if (paused) state = 'Paused';
  else if (halted) state = 'Halted';
  // Counts of a DaemonSet the controller has not seen yet say nothing (0 desired before its first sync).
  else if (input.daemonSetObserved && liveRevision === target && updated >= input.desiredNodes && converged >= input.desiredNodes) state = 'RolloutComplete';
  else state = 'RollingOut';

  const status: RolloutStatus = {
    currentRevision: target,
    ...(previousRevision ? { previousRevision } : {}),
    state,
    updated,
    converged,
    failed: failing.length,
    ...(pending ? { pendingRevision: pending } : {}),
    ...(halted ? { haltedRevision: target, haltedGeneration: stillHalted ? (previous?.haltedGeneration ?? input.generation) : input.generation } : {}),
  };
  return { target, applyDaemonSet: !pending, halted, status, failing };
}

const list = (nodes: FailingNode[]) => `${nodes.slice(0, 5).map((n) => `${n.node} (${n.reason}: ${n.message})`).join('; ')}${nodes.length > 5 ? `; and ${nodes.length - 5} more` : ''}`;

/** The Progressing condition for a rollout. Pure. */
export function progressingVerdict(plan: RolloutPlan, desiredNodes: number): { status: 'True' | 'False'; reason: string; message: string } {
  const s = plan.status;
  if (!s) return { status: 'False', reason: 'Paused', message: 'spec.rollout.paused: nothing is created until it is unpaused.' };
  switch (s.state) {
    case 'Paused':
      return {
        status: 'False',
        reason: 'Paused',
        message: s.pendingRevision
          ? `spec.rollout.paused: revision ${s.pendingRevision} waits; the nodes stay on ${s.currentRevision}.`
          : `spec.rollout.paused: the nodes stay on revision ${s.currentRevision}.`,
      };
    case 'Halted':
      return {
        status: 'False',
        reason: 'Halted',
        message: `The rollout of revision ${s.currentRevision} halted: ${s.failed} node(s) fail on it: ${list(plan.failing)}. ${s.updated} of ${desiredNodes} nodes run it; no further node moves until the spec (or a referenced Secret) changes. Roll back by applying the previous spec.`,
      };
    case 'RolloutComplete':
      return { status: 'False', reason: 'RolloutComplete', message: `All ${desiredNodes} selected nodes converged to revision ${s.currentRevision}.` };
    default:
      return {
        status: 'True',
        reason: 'RollingOut',
        message: `Revision ${s.currentRevision}: ${s.updated} of ${desiredNodes} nodes updated, ${s.converged} converged, ${s.failed} failing.`,
      };
  }
}

export interface RolloutEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Events at the start, halt and completion of a rollout. Pure. */
export function rolloutEvents(before: RolloutStatus | undefined, after: RolloutStatus | undefined, plan: RolloutPlan, desiredNodes: number): RolloutEvent[] {
  if (!after) return [];
  const events: RolloutEvent[] = [];
  const newRevision = before?.currentRevision !== after.currentRevision;
  if (newRevision && before && after.state !== 'Paused') {
    events.push({ type: 'Normal', reason: 'RolloutStarted', message: `Rolling out revision ${after.currentRevision} (was ${before.currentRevision}) over ${desiredNodes} nodes.` });
  }
  if (after.state !== before?.state || newRevision) {
    if (after.state === 'Halted') events.push({ type: 'Warning', reason: 'RolloutHalted', message: progressingVerdict(plan, desiredNodes).message });
    if (after.state === 'RolloutComplete' && before) events.push({ type: 'Normal', reason: 'RolloutComplete', message: `All ${desiredNodes} selected nodes converged to revision ${after.currentRevision}.` });
    if (after.state === 'Paused' && before?.state !== 'Paused') events.push({ type: 'Normal', reason: 'RolloutPaused', message: progressingVerdict(plan, desiredNodes).message });
  }
  return events;
}
