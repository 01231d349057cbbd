import type { SsmAgentConfig } from '../api/types.ts';

/** The Secret holding the activation the node agents register with, if the config uses one. */
export function activationSecretName(config: SsmAgentConfig): string | undefined {
  const activation = config.spec.registration.activation;
  if (activation?.secretRef) return activation.secretRef.name;
  if (activation?.managed) return `ssm-activation-${config.metadata.name}`;
  return undefined;
}
