// The managed-instance step's I/O: list the instances tagged for this cluster and config (with their tags), plan
// (plan.ts), tag and deregister, and count the reported instances SSM sees Online. Every failure is collected, not
// thrown, so the caller retries with backoff; throttling is retried by the SDK inside SsmApi.
import type { SsmApi } from '../aws/ssm-api.ts';
import { errorMessage } from '../kube/informer.ts';
import { TAG_CLUSTER, TAG_CONFIG } from '../activations/tags.ts';
import { isInstanceId, onlineCount, planInstances, type DeregisterAction, type InstancesPlan, type NodeReport, type TaggedInstance } from './plan.ts';

export interface InstancesStepInput {
  ssm: SsmApi;
  cluster: string;
  config: string;
  nodes: readonly NodeReport[];
  existingNodes: ReadonlySet<string>;
  deregisterOnNodeDelete: boolean;
  uninstall: boolean;
}

export interface InstancesOutcome {
  plan: InstancesPlan;
  tagged: string[];
  deregistered: DeregisterAction[];
  /** reported instances SSM sees Online; undefined when that could not be read */
  online: number | undefined;
  /** one line per failed call */
  errors: string[];
}

/** One pass. Never throws. */
export async function reconcileInstances(input: InstancesStepInput): Promise<InstancesOutcome> {
  const { ssm } = input;
  const errors: string[] = [];
  const empty: InstancesPlan = { tag: [], deregister: [] };
  let instances: TaggedInstance[] = [];
  try {
    const listed = await ssm.listManagedInstances({ tagFilters: { [TAG_CLUSTER]: input.cluster, [TAG_CONFIG]: input.config } });
    for (const i of listed) {
      try {
        instances.push({ id: i.instanceId, tags: await ssm.listInstanceTags(i.instanceId) });
      } catch (err) {
        errors.push(`ListTagsForResource ${i.instanceId}: ${errorMessage(err)}`);
      }
    }
  } catch (err) {
    errors.push(`DescribeInstanceInformation: ${errorMessage(err)}`);
    instances = [];
    // Without the list, neither tagging decisions nor the sweep are safe: only the online count is tried.
    return { plan: empty, tagged: [], deregistered: [], online: await online(input, errors), errors };
  }

  const plan = planInstances({ ...input, instances });
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
  return { plan, tagged, deregistered, online: input.uninstall ? undefined : await online(input, errors), errors };
}

async function online(input: InstancesStepInput, errors: string[]): Promise<number | undefined> {
  const ids = input.nodes.map((n) => n.instanceId).filter(isInstanceId);
  if (ids.length === 0) return 0;
  try {
    return onlineCount(ids, await input.ssm.describeInstances(ids));
  } catch (err) {
    errors.push(`DescribeInstanceInformation (ping status): ${errorMessage(err)}`);
    return undefined;
  }
}
