// What to do about a config's managed instances (mi-…), decided from the node agents' reports and what SSM says
// about the instances (their tags and the activation each registered with). Pure.
//
// Ownership first: an instance is this config's only when SSM says it registered with one of this config's
// activations (`ownActivations`, see activations/history.ts). A node agent can report any mi- id and another
// cluster's instances can carry look-alike tags, but ActivationId is SSM's own record. Instances that are not
// this config's are never tagged and never deregistered; reported ones come back in `ignored`.
//
// - tag: an owned instance a node reports whose ssmagent.io/cluster, /config or /node tag is missing or wrong gets
//   them, so the sweep can later tell which node it belonged to — unless another cluster's identity is on it.
// - deregister (sweep, when deregisterOnNodeDelete): an owned instance tagged for this cluster and config whose node
//   tag names a Node that no longer exists, and that no existing node reports; one whose node now reports another
//   instance (a reused node name); and one a deleted Node's managed-instance-id annotation named (deletedNodes),
//   for an instance deleted before a sweep could tag it with its node.
// - deregister (sweep, when deregisterOnNodeDelete): a duplicate registration of a host that runs another instance
//   now (duplicates.ts: a RegisterManagedInstance answer lost, a registration lost on disk).
// - deregister (Uninstall): when the config is deleted with deletionPolicy Uninstall, every owned instance tagged
//   for this cluster and config, and every owned instance its nodes report.
// Only hybrid managed instances (mi-…) are tagged or deregistered: EC2 instances (i-…) are AWS's to manage.
// `existingNodes` must come from a complete (synced) Node cache: a partial list would look like deleted nodes.
import { TAG_CLUSTER, TAG_CONFIG, TAG_NODE } from '../activations/tags.ts';
import { LEGACY_DEFAULT_CLUSTER_NAME } from '../cluster/identity.ts';
import { NODE_ANNOTATION_INSTANCE_ID } from '../api/group.ts';
import { DEFAULT_DUPLICATE_GRACE_MS, planDuplicates, type HostAnchor } from './duplicates.ts';

export interface NodeReport {
  node: string;
  /** the instance id the node's agent reported (observation.instanceId) */
  instanceId?: string | undefined;
}

export interface TaggedInstance {
  id: string;
  tags: Record<string, string>;
  /** the activation SSM says the instance registered with */
  activationId?: string | undefined;
  /** what DescribeInstanceInformation says (for duplicates.ts) */
  pingStatus?: string | undefined;
  registeredAt?: Date | undefined;
  computerName?: string | undefined;
}

export interface PlanInstancesInput {
  cluster: string;
  config: string;
  /** this config's nodes and what they reported */
  nodes: readonly NodeReport[];
  /** every Node in the cluster, by name (any config) */
  existingNodes: ReadonlySet<string>;
  /** the managed instances SSM lists as tagged for this cluster and config, and the reported ones SSM knows (with
   * their tags; {} when not read) */
  instances: readonly TaggedInstance[];
  /** the activations this config has used (activations/history.ts) */
  ownActivations: ReadonlySet<string>;
  /** Nodes seen deleted, with the instance their ssmagent.io/managed-instance-id annotation named: the sweep's only
   * clue for an instance that was never tagged with its node (the node went before the first sweep). */
  deletedNodes?: ReadonlyMap<string, string>;
  deregisterOnNodeDelete: boolean;
  /** the config is being deleted with deletionPolicy Uninstall */
  uninstall: boolean;
  /** the time, for the duplicate rule's grace period; absent: duplicates are not looked for */
  now?: Date;
  /** how old a duplicate registration must be before it is deregistered (duplicates.ts) */
  duplicateGraceMs?: number;
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
  reason: 'NodeDeleted' | 'NodeReplaced' | 'ConfigUninstalled' | 'DuplicateRegistration';
  message: string;
}

/** A reported instance the operator leaves alone, and why (for a warning: the node's agent may be lying). */
export interface IgnoredInstance {
  id: string;
  node: string;
  reason: 'NotThisConfigsActivation' | 'OtherCluster';
  message: string;
}

export interface InstancesPlan {
  tag: TagAction[];
  deregister: DeregisterAction[];
  ignored: IgnoredInstance[];
}

/** An SSM instance id: hybrid (mi-…) or EC2 (i-…). */
export const isInstanceId = (id: string | undefined): id is string => id !== undefined && /^m?i-[0-9a-f]{8,17}$/.test(id);

export const isManagedInstanceId = (id: string | undefined): id is string => id !== undefined && /^mi-[0-9a-f]{8,17}$/.test(id);

export function planInstances(input: PlanInstancesInput): InstancesPlan {
  const { cluster, config } = input;
  const byId = new Map(input.instances.map((i) => [i.id, i]));
  const owned = (id: string) => {
    const a = byId.get(id)?.activationId;
    return a !== undefined && input.ownActivations.has(a);
  };
  const ours = (i: TaggedInstance) => i.tags[TAG_CLUSTER] === cluster && i.tags[TAG_CONFIG] === config;
  const ignored: IgnoredInstance[] = [];
  const reported = new Map<string, string>();
  for (const n of input.nodes) {
    if (!isManagedInstanceId(n.instanceId) || !input.existingNodes.has(n.node)) continue;
    const i = byId.get(n.instanceId);
    if (!owned(n.instanceId)) {
      ignored.push({
        id: n.instanceId,
        node: n.node,
        reason: 'NotThisConfigsActivation',
        message: i
          ? `Node ${n.node} reports managed instance ${n.instanceId}, which registered with activation ${i.activationId ?? '(none)'}, not one of SsmAgentConfig ${config}'s: it is neither tagged nor ever deregistered by this config`
          : `Node ${n.node} reports managed instance ${n.instanceId}, which SSM does not list: it is left alone`,
      });
      continue;
    }
    const claimedBy = i?.tags[TAG_CLUSTER];
    if (claimedBy !== undefined && claimedBy !== cluster && claimedBy !== LEGACY_DEFAULT_CLUSTER_NAME) {
      ignored.push({ id: n.instanceId, node: n.node, reason: 'OtherCluster', message: `Node ${n.node} reports managed instance ${n.instanceId}, which is tagged for cluster ${claimedBy}: it is left alone` });
      continue;
    }
    reported.set(n.instanceId, n.node);
  }

  if (input.uninstall) {
    const ids = new Map<string, string | undefined>();
    for (const i of input.instances) if (ours(i) && owned(i.id) && isManagedInstanceId(i.id)) ids.set(i.id, i.tags[TAG_NODE]);
    for (const n of input.nodes) if (isManagedInstanceId(n.instanceId) && owned(n.instanceId)) ids.set(n.instanceId, n.node);
    return {
      tag: [],
      ignored,
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
    // what each of this config's existing nodes reports now (any instance id, EC2 ones too)
    const nowOn = new Map<string, string>();
    for (const n of input.nodes) if (isInstanceId(n.instanceId) && input.existingNodes.has(n.node)) nowOn.set(n.node, n.instanceId);
    const seen = new Set<string>();
    for (const i of input.instances) {
      const node = i.tags[TAG_NODE];
      if (!ours(i) || !owned(i.id) || !isManagedInstanceId(i.id) || !node || reported.has(i.id)) continue;
      if (!input.existingNodes.has(node)) {
        deregister.push({ id: i.id, node, reason: 'NodeDeleted', message: `Node ${node} no longer exists` });
        seen.add(i.id);
        continue;
      }
      // The node name was reused (or the host registered anew): the node now reports another instance.
      const current = nowOn.get(node);
      if (current !== undefined && current !== i.id) {
        deregister.push({ id: i.id, node, reason: 'NodeReplaced', message: `Node ${node} now runs managed instance ${current}; ${i.id} was its previous host's` });
        seen.add(i.id);
      }
    }
    const reportedAnywhere = new Set(input.nodes.filter((n) => input.existingNodes.has(n.node)).map((n) => n.instanceId));
    for (const [node, id] of input.deletedNodes ?? []) {
      if (seen.has(id) || !isManagedInstanceId(id) || !owned(id) || input.existingNodes.has(node) || reportedAnywhere.has(id)) continue;
      const claimedBy = byId.get(id)?.tags[TAG_CLUSTER];
      if (claimedBy !== undefined && claimedBy !== cluster && claimedBy !== LEGACY_DEFAULT_CLUSTER_NAME) continue;
      seen.add(id);
      deregister.push({ id, node, reason: 'NodeDeleted', message: `Node ${node} was deleted (its ${NODE_ANNOTATION_INSTANCE_ID} annotation named this instance)` });
    }
    if (input.now) {
      const anchors: HostAnchor[] = [];
      for (const [id, node] of reported) {
        const instance = byId.get(id);
        if (instance) anchors.push({ node, instance });
      }
      const candidates = input.instances.filter((i) => ours(i) && owned(i.id) && isManagedInstanceId(i.id) && !reported.has(i.id) && !seen.has(i.id) && !reportedAnywhere.has(i.id));
      for (const d of planDuplicates({ candidates, anchors, now: input.now, graceMs: input.duplicateGraceMs ?? DEFAULT_DUPLICATE_GRACE_MS })) {
        seen.add(d.id);
        deregister.push({ id: d.id, node: d.node, reason: 'DuplicateRegistration', message: d.message });
      }
    }
  }
  return { tag, deregister, ignored };
}

/** How many of the reported instances SSM sees Online. Pure. */
export function onlineCount(reportedIds: readonly string[], pingStatus: ReadonlyMap<string, { pingStatus?: string | undefined }>): number {
  return [...new Set(reportedIds)].filter((id) => pingStatus.get(id)?.pingStatus === 'Online').length;
}
