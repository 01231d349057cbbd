// The managed-instance step's I/O: list the instances tagged for this cluster and config (server-side tag filters,
// pages of 50), describe the reported ones that listing lacks, read the tags nobody cached (tag-cache.ts), plan
// (plan.ts), tag and deregister, and count the reported instances SSM sees Online. A sweep of N instances in
// steady state costs ⌈N/50⌉ calls. Every failure is collected, not thrown, so the caller retries with backoff;
// throttling is retried by the SDK (adaptive mode) inside SsmApi.
import type { ManagedInstanceInfo, SsmApi } from '../aws/ssm-api.ts';
import { errorMessage } from '../kube/informer.ts';
import { TAG_CLUSTER, TAG_CONFIG } from '../activations/tags.ts';
import { InstanceTagCache } from './tag-cache.ts';
import { isInstanceId, isManagedInstanceId, onlineCount, planInstances, type DeregisterAction, type IgnoredInstance, type InstancesPlan, type NodeReport, type TaggedInstance } from './plan.ts';

export interface InstancesStepInput {
  ssm: SsmApi;
  cluster: string;
  config: string;
  nodes: readonly NodeReport[];
  existingNodes: ReadonlySet<string>;
  /** the activations this config has used (activations/history.ts): only their instances are acted on */
  ownActivations: ReadonlySet<string>;
  /** deleted Nodes and the instance their managed-instance-id annotation named (see plan.ts) */
  deletedNodes?: ReadonlyMap<string, string>;
  deregisterOnNodeDelete: boolean;
  uninstall: boolean;
  /** the tags read or written by earlier passes of this config (tag-cache.ts); absent: every pass reads them */
  tagCache?: InstanceTagCache;
  /** the time (the duplicate rule's grace period, plan.ts); absent: duplicates are not looked for */
  now?: Date;
  duplicateGraceMs?: number;
}

export interface InstancesOutcome {
  plan: InstancesPlan;
  tagged: string[];
  deregistered: DeregisterAction[];
  /** reported instances left alone (not registered with this config's activations, or another cluster's) */
  ignored: IgnoredInstance[];
  /** reported instances SSM sees Online; undefined when that could not be read */
  online: number | undefined;
  /** instances of deletedNodes that are settled (deregistered, or unknown to SSM): their hints can go */
  settledHints: string[];
  /** one line per failed call */
  errors: string[];
}

/** One pass. Never throws. */
export async function reconcileInstances(input: InstancesStepInput): Promise<InstancesOutcome> {
  const { ssm } = input;
  const errors: string[] = [];
  const cache = input.tagCache ?? new InstanceTagCache();
  const empty: InstancesPlan = { tag: [], deregister: [], ignored: [] };
  const reportedIds = [...new Set(input.nodes.map((n) => n.instanceId).filter(isInstanceId))];
  const hinted = [...(input.deletedNodes?.values() ?? [])].filter(isManagedInstanceId);
  const failed = (): InstancesOutcome => ({ plan: empty, tagged: [], deregistered: [], ignored: [], online: undefined, settledHints: [], errors });

  // This cluster's and config's instances, filtered by SSM on their tags (pages of 50): in steady state every
  // reported instance is among them, with its ping status and activation, and this is the whole sweep's cost.
  let listed: ManagedInstanceInfo[];
  try {
    listed = await ssm.listManagedInstances({ tagFilters: { [TAG_CLUSTER]: input.cluster, [TAG_CONFIG]: input.config } });
  } catch (err) {
    errors.push(`DescribeInstanceInformation: ${errorMessage(err)}`);
    // Without the list, neither tagging decisions nor the sweep are safe.
    return failed();
  }
  const described = new Map(listed.map((i) => [i.instanceId, i]));
  // Reported or hinted instances the tag filter did not list (new ones, not tagged yet) are described by id.
  const unlisted = [...new Set([...reportedIds, ...hinted])].filter((id) => !described.has(id));
  if (unlisted.length > 0) {
    try {
      for (const [id, info] of await ssm.describeInstances(unlisted)) described.set(id, info);
    } catch (err) {
      errors.push(`DescribeInstanceInformation (reported instances): ${errorMessage(err)}`);
      // Without what SSM says about the reported instances, ownership cannot be decided: nothing is tagged or swept.
      return failed();
    }
  }
  const online = reportedIds.length === 0 ? 0 : onlineCount(reportedIds, described);

  const instances = new Map<string, TaggedInstance>();
  const listedIds = new Set(listed.map((i) => i.instanceId));
  // reported or hinted instances that the tag filter did not list: their tags are read afresh
  const reportedManaged = [...described.values()].filter((i) => isManagedInstanceId(i.instanceId) && !listedIds.has(i.instanceId));
  cache.retain(new Set(described.keys()));
  const seenBySsm = (i: ManagedInstanceInfo) => ({ activationId: i.activationId, pingStatus: i.pingStatus, registeredAt: i.registeredAt, computerName: i.computerName });
  for (const i of [...listed, ...reportedManaged]) {
    const cached = listedIds.has(i.instanceId) ? cache.listed(i.instanceId, input.cluster, input.config) : undefined;
    if (cached) {
      instances.set(i.instanceId, { id: i.instanceId, tags: cached, ...seenBySsm(i) });
      continue;
    }
    try {
      const tags = await ssm.listInstanceTags(i.instanceId);
      cache.set(i.instanceId, tags);
      instances.set(i.instanceId, { id: i.instanceId, tags, ...seenBySsm(i) });
    } catch (err) {
      errors.push(`ListTagsForResource ${i.instanceId}: ${errorMessage(err)}`);
    }
  }

  const plan = planInstances({ ...input, instances: [...instances.values()] });
  const tagged: string[] = [];
  for (const t of plan.tag) {
    try {
      await ssm.tagInstance(t.id, t.tags);
      cache.merge(t.id, t.tags);
      tagged.push(t.id);
    } catch (err) {
      errors.push(`AddTagsToResource ${t.id}: ${errorMessage(err)}`);
    }
  }
  const deregistered: DeregisterAction[] = [];
  for (const d of plan.deregister) {
    try {
      await ssm.deregisterInstance(d.id);
      cache.delete(d.id);
      deregistered.push(d);
    } catch (err) {
      errors.push(`DeregisterManagedInstance ${d.id}: ${errorMessage(err)}`);
    }
  }
  const settledHints = hinted.filter((id) => !described?.has(id) || deregistered.some((d) => d.id === id));
  return { plan, tagged, deregistered, ignored: plan.ignored, online: input.uninstall ? undefined : online, settledHints, errors };
}
