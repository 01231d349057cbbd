// Two configs must never both run an agent on one node: the newer of two overlapping configs is Conflicted. Pure.
import type { SsmAgentConfig } from '../api/types.ts';
import { coveredNodeNames, type NodeObject } from './node-selection.ts';

export interface Conflict {
  /** The older configs this one overlaps with. */
  with: string[];
  /** Nodes both would cover (sorted). */
  nodes: string[];
}

function createdAt(c: SsmAgentConfig): number {
  return new Date(c.metadata.creationTimestamp ?? 0).getTime();
}

/** True when `a` was created before `b`; the name breaks ties so exactly one of two configs wins. */
export function isOlder(a: SsmAgentConfig, b: SsmAgentConfig): boolean {
  const ta = createdAt(a);
  const tb = createdAt(b);
  return ta !== tb ? ta < tb : a.metadata.name < b.metadata.name;
}

export function findConflict(config: SsmAgentConfig, all: SsmAgentConfig[], nodes: NodeObject[]): Conflict | undefined {
  const mine = new Set(coveredNodeNames(config.spec, nodes));
  if (mine.size === 0) return undefined;
  const withConfigs: string[] = [];
  const shared = new Set<string>();
  for (const other of all) {
    if (other.metadata.name === config.metadata.name || other.metadata.deletionTimestamp || !isOlder(other, config)) continue;
    const overlap = coveredNodeNames(other.spec, nodes).filter((n) => mine.has(n));
    if (overlap.length === 0) continue;
    withConfigs.push(other.metadata.name);
    for (const n of overlap) shared.add(n);
  }
  return withConfigs.length > 0 ? { with: withConfigs.sort(), nodes: [...shared].sort() } : undefined;
}

export function describeConflict(conflict: Conflict, limit = 5): string {
  const shown = conflict.nodes.slice(0, limit).join(', ');
  const more = conflict.nodes.length > limit ? ` and ${conflict.nodes.length - limit} more` : '';
  const others = conflict.with.map((n) => `"${n}"`).join(', ');
  return `selects ${conflict.nodes.length} node(s) (${shown}${more}) already covered by the older SsmAgentConfig ${others}; narrow nodeSelector, affinity or tolerations so no node is selected twice. No node agent runs for this config until then.`;
}
