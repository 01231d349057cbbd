import type { V1ConfigMap } from '@kubernetes/client-node';
import { NODE_AGENT_CONFIG_FILE } from '../api/node-agent-config.ts';
import type { OwnedInput } from './context.ts';
import { ANNOTATION_REVISION, LABEL_REVISION, ownedLabels, ownerReference, revisionConfigMapName } from './names.ts';
import type { Revision } from './revision.ts';

/** The immutable ConfigMap of one revision: a change is a new ConfigMap, never an edit of one pods already use. */
export function buildRevisionConfigMap({ config, context }: OwnedInput, rev: Revision): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: revisionConfigMapName(config.metadata.name, rev.revision),
      namespace: context.namespace,
      labels: { ...ownedLabels(config.metadata.name), [LABEL_REVISION]: rev.revision },
      annotations: { [ANNOTATION_REVISION]: rev.revision },
      ownerReferences: [ownerReference(config)],
    },
    immutable: true,
    data: { [NODE_AGENT_CONFIG_FILE]: rev.configJson },
  };
}
