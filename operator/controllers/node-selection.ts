// Which nodes a config covers: the DaemonSet controller's own rules (node selector, required node affinity,
// taints against tolerations), so a conflict is found before two agents ever land on one node. Pure.
import type { Affinity, SsmAgentConfigSpec, Toleration } from '../api/types.ts';

export interface NodeTaint {
  key: string;
  value?: string;
  effect: string;
}

export interface NodeObject {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  spec?: { taints?: NodeTaint[]; unschedulable?: boolean };
}

type Requirement = { key: string; operator: string; values?: string[] };
type Term = { matchExpressions?: Requirement[]; matchFields?: Requirement[] };

function requirementMatches(req: Requirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const have = Number.parseInt(value ?? '', 10);
      const want = Number.parseInt(values[0] ?? '', 10);
      if (Number.isNaN(have) || Number.isNaN(want)) return false;
      return req.operator === 'Gt' ? have > want : have < want;
    }
    default:
      return false;
  }
}

function termMatches(term: Term, node: NodeObject): boolean {
  const labels = node.metadata?.labels ?? {};
  const fields: Record<string, string | undefined> = { 'metadata.name': node.metadata?.name };
  const exprs = term.matchExpressions ?? [];
  const fieldReqs = term.matchFields ?? [];
  // An empty term matches nothing, as in the scheduler.
  if (exprs.length === 0 && fieldReqs.length === 0) return false;
  return exprs.every((r) => requirementMatches(r, labels[r.key])) && fieldReqs.every((r) => requirementMatches(r, fields[r.key]));
}

function affinityMatches(affinity: Affinity | undefined, node: NodeObject): boolean {
  const terms = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return true;
  return terms.some((t) => termMatches(t, node));
}

function tolerates(tolerations: Toleration[], taint: NodeTaint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

// DaemonSet pods always tolerate these (the DaemonSet controller adds them), so they never exclude a node.
const DAEMONSET_DEFAULT_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' },
];

export function nodeIsCovered(spec: Pick<SsmAgentConfigSpec, 'nodeSelector' | 'tolerations' | 'affinity'>, node: NodeObject): boolean {
  const labels = node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  if (!affinityMatches(spec.affinity, node)) return false;
  const tolerations = [...(spec.tolerations ?? []), ...DAEMONSET_DEFAULT_TOLERATIONS];
  return (node.spec?.taints ?? []).filter((t) => t.effect !== 'PreferNoSchedule').every((t) => tolerates(tolerations, t));
}

export function coveredNodeNames(spec: Pick<SsmAgentConfigSpec, 'nodeSelector' | 'tolerations' | 'affinity'>, nodes: NodeObject[]): string[] {
  return nodes.filter((n) => nodeIsCovered(spec, n)).map((n) => n.metadata?.name ?? '');
}
