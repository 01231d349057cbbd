// One revision of a config's node-agent configuration: the rendered file plus the digests of the Secrets and
// ConfigMaps the node agents mount. Its content hash names the immutable ConfigMap the pod template references,
// so any change (spec, a resolved `latest`, a referenced Secret's content) is a new revision and reaches hosts
// only through the DaemonSet's rolling update. Pure.
import { NODE_AGENT_CONFIG_FILE } from '../api/node-agent-config.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import { canonicalJson, configHash } from './config-hash.ts';
import type { OwnedInput } from './context.ts';
import { renderNodeAgentConfig } from './node-agent-config.ts';
import { activationSecretName } from './secrets.ts';

export const REVISION_LENGTH = 10;

export interface InputRef {
  kind: 'Secret' | 'ConfigMap';
  name: string;
}

/** The Secrets and ConfigMaps whose content the node agents read: they count in the revision. */
export function referencedInputs(config: SsmAgentConfig): InputRef[] {
  const refs: InputRef[] = [];
  const proxy = config.spec.proxy?.secretRef?.name;
  if (proxy) refs.push({ kind: 'Secret', name: proxy });
  const mirror = config.spec.agent.source?.mirrorSecretRef?.name;
  if (mirror) refs.push({ kind: 'Secret', name: mirror });
  const activation = activationSecretName(config);
  if (activation) refs.push({ kind: 'Secret', name: activation });
  const keys = config.spec.agent.source?.signingKeys?.configMap;
  if (keys) refs.push({ kind: 'ConfigMap', name: keys });
  const ca = config.spec.agent.source?.caBundle?.configMap;
  if (ca && ca !== keys) refs.push({ kind: 'ConfigMap', name: ca });
  return refs;
}

export const inputKey = (ref: InputRef): string => `${ref.kind}/${ref.name}`;

export interface Revision {
  /** The content hash (REVISION_LENGTH hex digits). */
  revision: string;
  /** The rendered node-agent configuration file. */
  configJson: string;
}

/** A digest of a Secret's or ConfigMap's data (keys and values), for the revision hash. */
export function dataDigest(data: Record<string, string> | undefined, binaryData?: Record<string, string>): string {
  return configHash([data ?? {}, binaryData ?? {}]);
}

export function renderRevision(input: OwnedInput): Revision {
  const rendered = renderNodeAgentConfig(input.config, input.action);
  const resolved = input.inputs?.resolvedVersion;
  if (rendered.agent.version === 'latest' && resolved) rendered.agent.version = resolved;
  const configJson = `${JSON.stringify(rendered, null, 2)}\n`;
  // Only the inputs this config references count: a stale digest of a Secret it no longer uses changes nothing.
  const digests = Object.fromEntries(referencedInputs(input.config).map((ref) => [inputKey(ref), input.inputs?.digests[inputKey(ref)] ?? 'unknown']));
  const revision = configHash(canonicalJson({ [NODE_AGENT_CONFIG_FILE]: configJson, inputs: digests })).slice(0, REVISION_LENGTH);
  return { revision, configJson };
}
