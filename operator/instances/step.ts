// The managed-instance step's I/O: list the instances tagged for this cluster and config and look up the reported
// ones (their tags and the activation each registered with), plan (plan.ts), tag and deregister, and count the
// reported instances SSM sees Online. Every failure is collected, not thrown, so the caller retries with backoff;
// throttling is retried by the SDK inside SsmApi.
import type { ManagedInstanceInfo, SsmApi } from '../aws/ssm-api.ts';
import { errorMessage } from '../kube/informer.ts';
import { TAG_CLUSTER, TAG_CONFIG } from '../activations/tags.ts';
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
  const empty: InstancesPlan = { tag: [], deregister: [], ignored: [] };
  const reportedIds = [...new Set(input.nodes.map((n) => n.instanceId).filter(isInstanceId))];
  const hinted = [...(input.deletedNodes?.values() ?? [])].filter(isManagedInstanceId);
  let described: Map<string, ManagedInstanceInfo> | undefined;
  if (reportedIds.length > 0 || hinted.length > 0) {
    try {
      described = await ssm.describeInstances([...new Set([...reportedIds, ...hinted])]);
    } catch (err) {
      errors.push(`DescribeInstanceInformation (reported instances): ${errorMessage(err)}`);
    }
  }
  const online = reportedIds.length === 0 ? 0 : described && onlineCount(reportedIds, described);
  const failed = (): InstancesOutcome => ({ plan: empty, tagged: [], deregistered: [], ignored: [], online: input.uninstall ? undefined : online, settledHints: [], errors });
  // Without what SSM says about the reported instances, ownership cannot be decided: nothing is tagged or swept.
  if ((reportedIds.length > 0 || hinted.length > 0) && !described) return failed();

  const instances = new Map<string, TaggedInstance>();
  try {
    const listed = await ssm.listManagedInstances({ tagFilters: { [TAG_CLUSTER]: input.cluster, [TAG_CONFIG]: input.config } });
    // reported or hinted instances that the tag filter did not list: their tags are read too
    const reportedManaged = [...(described?.values() ?? [])].filter((i) => isManagedInstanceId(i.instanceId) && !listed.some((l) => l.instanceId === i.instanceId));
    for (const i of [...listed, ...reportedManaged]) {
      try {
        instances.set(i.instanceId, { id: i.instanceId, tags: await ssm.listInstanceTags(i.instanceId), activationId: i.activationId });
      } catch (err) {
        errors.push(`ListTagsForResource ${i.instanceId}: ${errorMessage(err)}`);
      }
    }
  } catch (err) {
    errors.push(`DescribeInstanceInformation: ${errorMessage(err)}`);
    // Without the list, neither tagging decisions nor the sweep are safe.
    return failed();
  }

  const plan = planInstances({ ...input, instances: [...instances.values()] });
  const tagged: string[] = [];
  for (const t of plan.tag) {
    try {
      await ssm.tagInstance(t.id, t.tags);
      tagged.push(t.id);
    } catch (err) {
      errors.push(`AddTagsToResource ${t.id}: ${errorMessage(err)}`);
    }
  }
  const deregistered: DeregisterAction[] = [];
  for (const d of plan.deregister) {
    try {
      await ssm.deregisterInstance(d.id);
      deregistered.push(d);
    } catch (err) {
      errors.push(`DeregisterManagedInstance ${d.id}: ${errorMessage(err)}`);
    }
  }
  const settledHints = hinted.filter((id) => !described?.has(id) || deregistered.some((d) => d.id === id));
  return { plan, tagged, deregistered, ignored: plan.ignored, online: input.uninstall ? undefined : online, settledHints, errors };
}
