// What to do about a config's managed instances (mi-…), decided from the node agents' reports and the instances SSM
// lists as tagged for this cluster. Pure.
//
// - tag: an instance a node reports whose ssmagent.io/cluster, /config or /node tag is missing or wrong gets them,
//   so the sweep can later tell which node it belonged to.
// - deregister (sweep, when deregisterOnNodeDelete): an instance tagged for this cluster and config whose node tag
//   names a Node that no longer exists, and that no existing node reports.
// - deregister (Uninstall): when the config is deleted with deletionPolicy Uninstall, every instance tagged for this
//   cluster and config, and every instance its nodes report.
// Only hybrid managed instances (mi-…) are tagged or deregistered: EC2 instances (i-…) are AWS's to manage.
// `existingNodes` must come from a complete (synced) Node cache: a partial list would look like deleted nodes.
import { TAG_CLUSTER, TAG_CONFIG, TAG_NODE } from '../activations/tags.ts';

export interface NodeReport {
  node: string;
  /** the instance id the node's agent reported (observation.instanceId) */
  instanceId?: string | undefined;
}

export interface TaggedInstance {
  id: string;
  tags: Record<string, string>;
}

export interface PlanInstancesInput {
  cluster: string;
  config: string;
  /** this config's nodes and what they reported */
  nodes: readonly NodeReport[];
  /** every Node in the cluster, by name (any config) */
  existingNodes: ReadonlySet<string>;
  /** the managed instances SSM lists as tagged ssmagent.io/cluster=<cluster> (with their tags) */
  instances: readonly TaggedInstance[];
  deregisterOnNodeDelete: boolean;
  /** the config is being deleted with deletionPolicy Uninstall */
  uninstall: boolean;
}

export interface TagAction {
  id: string;
  node: string;
  tags: Record<string, string>;
  reason: string;
}

export interface DeregisterAction {
  id: string;
  node?: string;
  reason: 'NodeDeleted' | 'ConfigUninstalled';
  message: string;
}

export interface InstancesPlan {
  tag: TagAction[];
  deregister: DeregisterAction[];
}

/** An SSM instance id: hybrid (mi-…) or EC2 (i-…). */
export const isInstanceId = (id: string | undefined): id is string => id !== undefined && /^m?i-[0-9a-f]{8,17}$/.test(id);

export const isManagedInstanceId = (id: string | undefined): id is string => id !== undefined && /^mi-[0-9a-f]{8,17}$/.test(id);

export function planInstances(input: PlanInstancesInput): InstancesPlan {
  const { cluster, config } = input;
  const byId = new Map(input.instances.map((i) => [i.id, i]));
  const ours = (i: TaggedInstance) => i.tags[TAG_CLUSTER] === cluster && i.tags[TAG_CONFIG] === config;
  const reported = new Map<string, string>();
  for (const n of input.nodes) if (isManagedInstanceId(n.instanceId) && input.existingNodes.has(n.node)) reported.set(n.instanceId, n.node);

  if (input.uninstall) {
    const ids = new Map<string, string | undefined>();
    for (const i of input.instances) if (ours(i)) ids.set(i.id, i.tags[TAG_NODE]);
    for (const n of input.nodes) if (isManagedInstanceId(n.instanceId)) ids.set(n.instanceId, n.node);
    return {
      tag: [],
      deregister: [...ids].map(([id, node]) => ({
        id,
        ...(node ? { node } : {}),
        reason: 'ConfigUninstalled',
        message: `SsmAgentConfig ${config} was deleted with deletionPolicy Uninstall`,
      })),
    };
  }

  const tag: TagAction[] = [];
  for (const [id, node] of reported) {
    const want: Record<string, string> = { [TAG_CLUSTER]: cluster, [TAG_CONFIG]: config, [TAG_NODE]: node };
    const have = byId.get(id)?.tags ?? {};
    const wrong = Object.keys(want).filter((k) => have[k] !== want[k]);
    if (wrong.length > 0) tag.push({ id, node, tags: want, reason: `node ${node} reports it; ${wrong.join(', ')} ${wrong.length === 1 ? 'is' : 'are'} missing or out of date` });
  }

  const deregister: DeregisterAction[] = [];
  if (input.deregisterOnNodeDelete) {
    for (const i of input.instances) {
      const node = i.tags[TAG_NODE];
      if (!ours(i) || !isManagedInstanceId(i.id) || !node || reported.has(i.id) || input.existingNodes.has(node)) continue;
      deregister.push({ id: i.id, node, reason: 'NodeDeleted', message: `Node ${node} no longer exists` });
    }
  }
  return { tag, deregister };
}

/** How many of the reported instances SSM sees Online. Pure. */
export function onlineCount(reportedIds: readonly string[], pingStatus: ReadonlyMap<string, { pingStatus?: string | undefined }>): number {
  return [...new Set(reportedIds)].filter((id) => pingStatus.get(id)?.pingStatus === 'Online').length;
}
