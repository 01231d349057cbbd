import type { V1ConfigMap } from '@kubernetes/client-node';
import { NODE_AGENT_CONFIG_FILE } from '../api/node-agent-config.ts';
import type { OwnedInput } from './context.ts';
import { nodeAgentName, ownedLabels, ownerReference } from './names.ts';
import { renderNodeAgentConfig } from './node-agent-config.ts';

export function buildConfigMap({ config, context, action }: OwnedInput): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: nodeAgentName(config.metadata.name), namespace: context.namespace, labels: ownedLabels(config.metadata.name), ownerReferences: [ownerReference(config)] },
    data: { [NODE_AGENT_CONFIG_FILE]: `${JSON.stringify(renderNodeAgentConfig(config, action), null, 2)}\n` },
  };
}
