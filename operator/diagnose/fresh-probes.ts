// Waits for a node's answer to probe-now: the next state message from that node that carries its probes. The
// fleet channel tells every report here (fleet-wiring's onReport); a diagnosis request waits on it.
import type { NodeState, NodeStateSection } from '../api/fleet-protocol.ts';

type Waiter = (state: NodeState) => void;

export class FreshProbes {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly versions = new Map<string, string>();

  /** Every report of every node (hello and state messages). */
  observe(node: string, state: NodeState, sections: readonly NodeStateSection[], nodeAgentVersion?: string): void {
    if (nodeAgentVersion) this.versions.set(node, nodeAgentVersion);
    if (!sections.includes('probes') && !sections.includes('probeDetails')) return;
    const waiting = this.waiters.get(node);
    if (!waiting) return;
    this.waiters.delete(node);
    for (const w of waiting) w(state);
  }

  nodeAgentVersion(node: string): string | undefined {
    return this.versions.get(node);
  }

  /** Resolves with the node's state once its probes arrive, or undefined after timeoutMs (or on abort). */
  wait(node: string, timeoutMs: number, signal?: AbortSignal): Promise<NodeState | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(node);
      if (!set) this.waiters.set(node, (set = new Set()));
      const done = (state: NodeState | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const current = this.waiters.get(node);
        current?.delete(waiter);
        if (current?.size === 0) this.waiters.delete(node);
        resolve(state);
      };
      const waiter: Waiter = (state) => done(state);
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }

  /** Requests waiting, for tests and limits. */
  get pending(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }
}
