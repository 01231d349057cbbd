// The node agents' identity: a ServiceAccount and the little it may read. The node agent reports over the fleet
// channel, so it needs no write access to the API; it reads its own Node to learn the provider id and labels.
import type { V1ClusterRole, V1ClusterRoleBinding, V1ServiceAccount } from '@kubernetes/client-node';
import type { OwnedInput } from './context.ts';
import { nodeAgentClusterRoleName, nodeAgentName, ownedLabels, ownerReference } from './names.ts';

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

export function buildClusterRole({ config }: OwnedInput): V1ClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: nodeAgentClusterRoleName(config.metadata.name), labels: ownedLabels(config.metadata.name), ownerReferences: [ownerReference(config)] },
    rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
  };
}

export function buildClusterRoleBinding({ config, context }: OwnedInput): V1ClusterRoleBinding {
  const name = nodeAgentClusterRoleName(config.metadata.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: ownedLabels(config.metadata.name), ownerReferences: [ownerReference(config)] },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: nodeAgentName(config.metadata.name), namespace: context.namespace }],
  };
}
