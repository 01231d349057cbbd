// The Secrets a config's node agents read: the activation Secret's name, and the managed activation's Secret
// itself (the operator writes it; activations/step.ts). Pure.
import type { SsmAgentConfig } from '../api/types.ts';
import { LABEL_CONFIG, LABEL_MANAGED_BY, MANAGED_BY, ownerReference } from './names.ts';

export const KEY_ACTIVATION_ID = 'activationId';
export const KEY_ACTIVATION_CODE = 'activationCode';
/** Older activations still kept (comma-separated ids) on a managed activation's Secret. */
export const ANNOTATION_PREVIOUS_ACTIVATIONS = 'ssmagent.io/previous-activation-ids';

/** The Secret holding the activation the node agents register with, if the config uses one. */
export function activationSecretName(config: SsmAgentConfig): string | undefined {
  const activation = config.spec.registration.activation;
  if (activation?.secretRef) return activation.secretRef.name;
  if (activation?.managed) return `ssm-activation-${config.metadata.name}`;
  return undefined;
}

const encode = (v: string) => Buffer.from(v, 'utf8').toString('base64');

/** The managed activation's Secret, owned by the config (garbage-collected with it). */
export function activationSecret(config: SsmAgentConfig, namespace: string, stored: { id: string; code: string; previousIds?: readonly string[] }) {
  const previous = stored.previousIds ?? [];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: activationSecretName(config) ?? `ssm-activation-${config.metadata.name}`,
      namespace,
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_CONFIG]: config.metadata.name, 'app.kubernetes.io/component': 'activation' },
      ...(previous.length > 0 ? { annotations: { [ANNOTATION_PREVIOUS_ACTIVATIONS]: previous.join(',') } } : {}),
      ownerReferences: [ownerReference(config)],
    },
    type: 'Opaque',
    data: { [KEY_ACTIVATION_ID]: encode(stored.id), [KEY_ACTIVATION_CODE]: encode(stored.code) },
  };
}
