// What every config's node agents get beyond their spec: the cluster admin's defaults from the operator's settings
// (chart values nodeAgent.*, imagePullSecrets) and the one rule no spec can lift, Linux nodes only. Applied once,
// right after a spec is parsed, so that node selection, conflicts and the DaemonSet all see the same pods. Pure.
import type { SsmAgentConfigSpec, Toleration } from '../api/types.ts';

export interface NodeAgentDefaults {
  /** PriorityClass when the spec names none (chart default system-node-critical). */
  priorityClassName?: string;
  /** Pull Secrets added to every config's (the chart's imagePullSecrets, shared with the operator). */
  imagePullSecrets?: readonly string[];
  /** Tolerate the control-plane taints (node-role.kubernetes.io/control-plane, NoSchedule), so control-plane
   * nodes are covered too. Off by default: they are often managed apart (and EKS has none). */
  tolerateControlPlane?: boolean;
}

/** The OS label the kubelet sets; the node agent is a Linux program (nsenter, dpkg/rpm, systemd). */
export const OS_LABEL = 'kubernetes.io/os';

export const CONTROL_PLANE_TOLERATION: Toleration = { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' };

/** The spec with the defaults applied. Windows nodes are never covered: a required node-affinity requirement
 * `kubernetes.io/os NotIn [windows]` is ANDed into every term (NotIn also matches a node without the label). */
export function withNodeAgentDefaults(spec: SsmAgentConfigSpec, defaults: NodeAgentDefaults = {}): SsmAgentConfigSpec {
  const notWindows = { key: OS_LABEL, operator: 'NotIn' as const, values: ['windows'] };
  const nodeAffinity = spec.affinity?.nodeAffinity;
  const terms = nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [{}];
  const required = {
    nodeSelectorTerms: terms.map((term) => ({ ...term, matchExpressions: [...(term.matchExpressions ?? []), notWindows] })),
  };

  const tolerations = [...(spec.tolerations ?? [])];
  const hasControlPlane = tolerations.some((t) => t.key === CONTROL_PLANE_TOLERATION.key || (t.operator === 'Exists' && !t.key));
  if (defaults.tolerateControlPlane && !hasControlPlane) tolerations.push(CONTROL_PLANE_TOLERATION);

  const pullSecrets = [...(defaults.imagePullSecrets ?? []).map((name) => ({ name })), ...(spec.daemonSet.imagePullSecrets ?? [])];
  const uniqueSecrets = pullSecrets.filter((s, i) => pullSecrets.findIndex((o) => o.name === s.name) === i);
  const priorityClassName = spec.daemonSet.priorityClassName ?? defaults.priorityClassName;

  return {
    ...spec,
    ...(tolerations.length > 0 ? { tolerations } : {}),
    affinity: { ...spec.affinity, nodeAffinity: { ...nodeAffinity, requiredDuringSchedulingIgnoredDuringExecution: required } },
    daemonSet: {
      ...spec.daemonSet,
      ...(uniqueSecrets.length > 0 ? { imagePullSecrets: uniqueSecrets } : {}),
      ...(priorityClassName ? { priorityClassName } : {}),
    },
  };
}
