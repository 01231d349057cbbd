// The per-node facts on Node objects (contract): annotations ssmagent.io/managed-instance-id and
// ssmagent.io/agent-version, label ssmagent.io/registered. Pure: the patch, or nothing when the Node already
// says so, so the API server is written only on change.
import { NODE_ANNOTATION_AGENT_VERSION, NODE_ANNOTATION_INSTANCE_ID, NODE_LABEL_REGISTERED } from '../api/group.ts';
import type { NodeState } from '../api/fleet-protocol.ts';

export interface NodeMeta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function nodeMetadataPatch(current: NodeMeta, state: NodeState): { metadata: { annotations: Record<string, string | null>; labels: Record<string, string> } } | undefined {
  const instanceId = state.observation?.instanceId;
  const version = state.observation?.version;
  const annotations: Record<string, string | null> = {};
  const labels: Record<string, string> = {};
  const have = current.annotations ?? {};
  if ((have[NODE_ANNOTATION_INSTANCE_ID] ?? null) !== (instanceId ?? null)) annotations[NODE_ANNOTATION_INSTANCE_ID] = instanceId ?? null;
  if ((have[NODE_ANNOTATION_AGENT_VERSION] ?? null) !== (version ?? null)) annotations[NODE_ANNOTATION_AGENT_VERSION] = version ?? null;
  const registered = instanceId ? 'true' : 'false';
  if (current.labels?.[NODE_LABEL_REGISTERED] !== registered) labels[NODE_LABEL_REGISTERED] = registered;
  if (Object.keys(annotations).length === 0 && Object.keys(labels).length === 0) return undefined;
  return { metadata: { annotations, labels } };
}
