// Computes a config's status from what was observed in one reconcile pass. Pure: the controller writes the
// result once, and only when it differs from what is stored.
import type { Condition, SsmAgentConfigStatus } from '../api/types.ts';
import { canonicalJson } from '../manifests/config-hash.ts';
import { describeConflict, type Conflict } from './conflicts.ts';
import type { FleetAggregate } from './fleet-aggregate.ts';
import { progressingVerdict, type RolloutPlan } from './rollout.ts';

export interface DaemonSetObservation {
  generation?: number;
  /** Real DaemonSets carry their generation here. */
  metadata?: { generation?: number };
  status?: {
    observedGeneration?: number;
    desiredNumberScheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
    updatedNumberScheduled?: number;
    numberUnavailable?: number;
  };
}

export interface StatusInput {
  generation: number;
  previous: SsmAgentConfigStatus | undefined;
  now: string;
  invalidSpec?: string[];
  conflict?: Conflict;
  applyError?: string;
  daemonSet?: DaemonSetObservation;
  /** What the node agents reported over the fleet channel; absent when the channel is off. */
  fleet?: FleetAggregate;
  /** The rollout of the current revision (rollout.ts); absent: judged from the DaemonSet alone. */
  rollout?: RolloutPlan;
  /** The activation's verdict (the ActivationReady condition) when the config uses one. */
  activation?: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };
  /** The agent version `latest` stands for (or the pin), and why it could not be resolved. */
  agent?: NonNullable<SsmAgentConfigStatus['agent']>;
}

type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'Conflicted';
type Verdict = { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };

function rollout(ds: DaemonSetObservation | undefined) {
  const s = ds?.status ?? {};
  const desired = s.desiredNumberScheduled ?? 0;
  const observedCurrent = ds !== undefined && (s.observedGeneration ?? 0) >= (ds.generation ?? ds.metadata?.generation ?? 1);
  return {
    desired,
    ready: s.numberReady ?? 0,
    available: s.numberAvailable ?? 0,
    updated: s.updatedNumberScheduled ?? 0,
    observedCurrent,
    rolledOut: observedCurrent && (s.updatedNumberScheduled ?? 0) >= desired,
  };
}

function verdicts(input: StatusInput): Record<ConditionType, Verdict> {
  const r = rollout(input.daemonSet);
  const conflicted: Verdict = input.conflict
    ? { status: 'True', reason: 'OverlappingNodes', message: describeConflict(input.conflict) }
    : { status: 'False', reason: 'NoOverlap', message: 'No other SsmAgentConfig selects the same nodes.' };

  let degraded: Verdict = { status: 'False', reason: 'AsExpected', message: 'No problem found.' };
  if (input.invalidSpec?.length) degraded = { status: 'True', reason: 'InvalidSpec', message: `The spec is invalid: ${input.invalidSpec.join('; ')}` };
  else if (input.applyError) degraded = { status: 'True', reason: 'ApplyFailed', message: `Applying the node-agent objects failed: ${input.applyError}` };
  else if (!input.conflict && input.fleet && input.fleet.failing > 0)
    degraded = {
      status: 'True',
      reason: 'NodesFailing',
      message: `${input.fleet.failing} of ${r.desired} nodes fail: ${input.fleet.failingNodes
        .slice(0, 5)
        .map((n) => `${n.node} (${n.reason})`)
        .join(', ')}${input.fleet.failing > 5 ? ', …' : ''}. See status.failingNodes.`,
    };
  else if (!input.conflict && input.activation?.status === 'False')
    degraded = { status: 'True', reason: 'ActivationInvalid', message: `The activation cannot register hosts: ${input.activation.reason}: ${input.activation.message}` };
  else if (!input.conflict && r.rolledOut && r.available < r.desired)
    degraded = { status: 'True', reason: 'NodeAgentsUnavailable', message: `${r.desired - r.available} of ${r.desired} node-agent pods are not available.` };

  let progressing: Verdict;
  if (input.conflict || input.invalidSpec?.length) progressing = { status: 'False', reason: 'Blocked', message: 'Nothing is rolled out until the problem above is fixed.' };
  else if (input.rollout && !input.rollout.status) progressing = progressingVerdict(input.rollout, r.desired);
  else if (!input.daemonSet) progressing = { status: 'True', reason: 'Creating', message: 'Creating the node-agent DaemonSet.' };
  else if (input.rollout) progressing = r.observedCurrent || input.rollout.status?.state !== 'RolloutComplete' ? progressingVerdict(input.rollout, r.desired) : { status: 'True', reason: 'RollingOut', message: 'The DaemonSet controller has not seen the current template yet.' };
  else if (!r.rolledOut) progressing = { status: 'True', reason: 'RollingOut', message: `${r.updated} of ${r.desired} nodes run the current node-agent configuration.` };
  else progressing = { status: 'False', reason: 'RolloutComplete', message: `All ${r.desired} selected nodes run the current node-agent configuration.` };

  let ready: Verdict;
  if (input.conflict) ready = { status: 'False', reason: 'Conflicted', message: 'Another SsmAgentConfig already covers some of the selected nodes.' };
  else if (degraded.status === 'True') ready = { status: 'False', reason: degraded.reason, message: degraded.message };
  else if (progressing.status === 'True') ready = { status: 'False', reason: progressing.reason, message: progressing.message };
  else if (progressing.reason === 'Halted' || (progressing.reason === 'Paused' && (input.rollout?.status?.pendingRevision || !input.rollout?.status)))
    ready = { status: 'False', reason: progressing.reason, message: progressing.message };
  else if (r.desired === 0) ready = { status: 'False', reason: 'NoNodesSelected', message: 'No node matches nodeSelector, affinity and tolerations.' };
  // Ready means the fleet converged: every pod ready (its host converged to the revision), and, where the node
  // agents report, every host installed and registered.
  else if (r.ready < r.desired) ready = { status: 'False', reason: 'NodeAgentsNotReady', message: `${r.desired - r.ready} of ${r.desired} node-agent pods are not ready (their host has not converged).` };
  else if (input.fleet && input.fleet.installed < r.desired) ready = { status: 'False', reason: 'NotInstalled', message: `The agent is installed on ${input.fleet.installed} of ${r.desired} nodes.` };
  else if (input.fleet && input.fleet.registered < r.desired) ready = { status: 'False', reason: 'NotRegistered', message: `${input.fleet.registered} of ${r.desired} nodes are registered with Systems Manager.` };
  else if (input.activation && input.activation.status !== 'True') ready = { status: 'False', reason: 'ActivationNotReady', message: `The activation is not ready: ${input.activation.message}` };
  else ready = { status: 'True', reason: 'AllNodesReady', message: `All ${r.desired} selected nodes converged${input.fleet ? ': the agent installed, registered and running' : ''}.` };

  return { Ready: ready, Progressing: progressing, Degraded: degraded, Conflicted: conflicted };
}

const ORDER: ConditionType[] = ['Ready', 'Progressing', 'Degraded', 'Conflicted'];

export function computeStatus(input: StatusInput): SsmAgentConfigStatus {
  const previous = input.previous ?? {};
  const v = verdicts(input);
  const oldConditions = new Map((previous.conditions ?? []).map((c) => [c.type, c]));
  const conditions: Condition[] = ORDER.map((type) => {
    const old = oldConditions.get(type);
    const { status, reason, message } = v[type];
    // lastTransitionTime moves only when the status itself changes (Kubernetes API conventions).
    const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : input.now;
    return { type, status, observedGeneration: input.generation, lastTransitionTime, reason, message };
  });
  // Conditions owned by other controllers (ActivationReady) are kept as they are.
  for (const c of previous.conditions ?? []) if (!ORDER.includes(c.type as ConditionType)) conditions.push(c);

  const r = rollout(input.conflict ? undefined : input.daemonSet);
  const { desired: _d, ready: _r, updated: _u, ...reported } = previous.nodes ?? { desired: 0, ready: 0, updated: 0 };
  const status: SsmAgentConfigStatus = {
    ...previous,
    observedGeneration: input.generation,
    conditions,
    nodes: { ...reported, desired: r.desired, ready: r.ready, updated: r.updated },
  };
  if (input.rollout?.status && !input.conflict) status.rollout = input.rollout.status;
  else delete status.rollout;
  if (input.agent) status.agent = input.agent;
  const fleet = input.fleet;
  if (fleet) {
    status.nodes = { ...status.nodes, desired: r.desired, ready: r.ready, updated: r.updated, installed: fleet.installed, registered: fleet.registered, failing: fleet.failing };
    status.agentVersions = fleet.agentVersions;
    status.failingNodes = fleet.failingNodes;
  }
  return status;
}

export function statusEqual(a: SsmAgentConfigStatus | undefined, b: SsmAgentConfigStatus | undefined): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

export interface TransitionEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Events for the transitions worth telling a person about. Pure. */
export function transitionEvents(before: SsmAgentConfigStatus | undefined, after: SsmAgentConfigStatus): TransitionEvent[] {
  const get = (s: SsmAgentConfigStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);
  const events: TransitionEvent[] = [];
  const changed = (type: string) => {
    const a = get(before, type);
    const b = get(after, type);
    return b && (a?.status !== b.status || (b.status === 'True' && a?.reason !== b.reason)) ? b : undefined;
  };
  const conflicted = changed('Conflicted');
  if (conflicted?.status === 'True') events.push({ type: 'Warning', reason: 'Conflicted', message: conflicted.message });
  if (conflicted?.status === 'False' && get(before, 'Conflicted')) events.push({ type: 'Normal', reason: 'ConflictResolved', message: conflicted.message });
  const degraded = changed('Degraded');
  if (degraded?.status === 'True') events.push({ type: 'Warning', reason: degraded.reason, message: degraded.message });
  const ready = changed('Ready');
  if (ready?.status === 'True') events.push({ type: 'Normal', reason: 'Ready', message: ready.message });
  return events;
}
