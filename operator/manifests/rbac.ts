// The node agents' identity: a ServiceAccount and nothing else. The node agent never calls the Kubernetes API (it
// reports over the fleet channel), so it is bound to no role: the ServiceAccount exists for the projected token the
// fleet channel authenticates (TokenReview names the pod and its node), and mounts no API token of its own.
import type { V1ServiceAccount } from '@kubernetes/client-node';
import type { OwnedInput } from './context.ts';
import { nodeAgentName, ownedLabels, ownerReference } from './names.ts';

export function buildServiceAccount({ config, context }: OwnedInput): V1ServiceAccount {
  const annotations = config.spec.daemonSet.serviceAccountAnnotations;
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: nodeAgentName(config.metadata.name),
      namespace: context.namespace,
      labels: ownedLabels(config.metadata.name),
      ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
      ownerReferences: [ownerReference(config)],
    },
    automountServiceAccountToken: false,
  };
}
