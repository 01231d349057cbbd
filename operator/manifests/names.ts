// Names and labels of everything the operator creates for a config: one place, so prune can find them all.
import { API_VERSION, GROUP, KIND } from '../api/group.ts';
import type { SsmAgentConfig } from '../api/types.ts';

export const MANAGED_BY = 'ssm-agent-operator';
export const LABEL_CONFIG = `${GROUP}/config`;
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
/** On the pod template and every node-agent pod: the revision (content hash) of the configuration it applies. */
export const ANNOTATION_REVISION = `${GROUP}/revision`;
/** On revision ConfigMaps: the revision they hold (prune and status find them by it). */
export const LABEL_REVISION = `${GROUP}/revision`;

// The fleet channel's objects in the operator's namespace (the operator keeps them; fleet/tls.ts).
/** Where node agents find the operator's CA: a ConfigMap, key FLEET_CA_KEY, mounted into every node-agent pod. */
export const FLEET_CA_CONFIGMAP = 'ssm-agent-operator-fleet-ca';
/** The operator's fleet CA and serving certificate (type kubernetes.io/tls, plus ca.crt and ca.key). */
export const FLEET_TLS_SECRET = 'ssm-agent-operator-fleet-tls';

// The operator's ports by default (the chart's ports.* values; HTTP_PORT, FLEET_PORT and DIAGNOSE_PORT set them).
/** /healthz, /readyz and /metrics. */
export const OPERATOR_HTTP_PORT = 8080;
/** The fleet channel (the `fleet` port of the operator Service). */
export const OPERATOR_FLEET_PORT = 8443;
/** The diagnosis endpoint (HTTPS; `ssm-agent-operator diagnose` reaches it through the API server's proxy). */
export const OPERATOR_DIAGNOSE_PORT = 8444;

export function nodeAgentName(configName: string): string {
  return `ssm-node-agent-${configName}`;
}

/** The immutable ConfigMap of one revision of a config's node-agent configuration. */
export function revisionConfigMapName(configName: string, revision: string): string {
  return `${nodeAgentName(configName)}-${revision}`;
}

/** Labels on every owned object; `ownedSelector` finds them again for prune. */
export function ownedLabels(configName: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'ssm-node-agent',
    'app.kubernetes.io/instance': configName,
    'app.kubernetes.io/component': 'node-agent',
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_CONFIG]: configName,
  };
}

export function ownedSelector(configName: string): string {
  return `${LABEL_MANAGED_BY}=${MANAGED_BY},${LABEL_CONFIG}=${configName}`;
}

export const ALL_OWNED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY},${LABEL_CONFIG}`;

/** Pod labels are a stable subset: the DaemonSet selector is immutable. */
export function podSelectorLabels(configName: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'ssm-node-agent', [LABEL_CONFIG]: configName };
}

export function ownerReference(config: SsmAgentConfig) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: config.metadata.name,
    uid: config.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}
