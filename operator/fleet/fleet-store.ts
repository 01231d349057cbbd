// What the connected node agents last reported, by node. In memory only: after an operator restart the agents
// reconnect and resend their full state, so nothing needs to be persisted.
import type { NodeState } from '../api/fleet-protocol.ts';

export interface FleetEntry {
  node: string;
  config: string;
  state: NodeState;
  connected: boolean;
  /** When the node started failing (ms since epoch), while it fails. */
  failingSince?: number;
}

/** A node fails when a host step failed or is unsupported, or its agent service is not active. Pure. */
export function nodeFailure(state: NodeState): { reason: string; message: string } | undefined {
  const step = state.steps?.find((s) => s.status === 'failed' || s.status === 'unsupported');
  if (step) return { reason: step.reason ?? (step.status === 'unsupported' ? 'Unsupported' : 'StepFailed'), message: `${step.step}: ${step.message ?? step.status}` };
  if (state.observation && !state.observation.serviceActive && state.observation.version) return { reason: 'AgentNotRunning', message: 'the amazon-ssm-agent service is not active' };
  return undefined;
}

export class FleetStore {
  private readonly entries = new Map<string, FleetEntry>();
  private readonly onChange: (config: string, node: string) => void;
  private readonly now: () => number;
  private warmUntil = 0;

  constructor(onChange: (config: string, node: string) => void, now: () => number = Date.now) {
    this.onChange = onChange;
    this.now = now;
  }

  /**
   * The fleet server starts listening: the agents come back over the next `windowMs` (their reconnect jitter),
   * and until then a node without a report here may simply not have reconnected yet.
   */
  startWarmUp(windowMs: number): void {
    this.warmUntil = this.now() + windowMs;
  }

  /** How long the report may still be incomplete because agents are reconnecting; 0 once warm. */
  warmingMs(): number {
    return Math.max(0, this.warmUntil - this.now());
  }

  update(node: string, config: string, state: NodeState): void {
    const previous = this.entries.get(node);
    const failing = nodeFailure(state) !== undefined;
    const failingSince = failing ? (previous?.failingSince ?? this.now()) : undefined;
    this.entries.set(node, { node, config, state, connected: true, ...(failingSince ? { failingSince } : {}) });
    if (previous && previous.config !== config) this.onChange(previous.config, node);
    this.onChange(config, node);
  }

  disconnect(node: string): void {
    const entry = this.entries.get(node);
    if (!entry) return;
    entry.connected = false;
    this.onChange(entry.config, node);
  }

  /** The Node is gone: its report goes too. */
  forget(node: string): void {
    const entry = this.entries.get(node);
    if (!entry) return;
    this.entries.delete(node);
    this.onChange(entry.config, node);
  }

  get(node: string): FleetEntry | undefined {
    return this.entries.get(node);
  }

  forConfig(config: string): FleetEntry[] {
    return [...this.entries.values()].filter((e) => e.config === config);
  }
}
