// Everything a config should own, built from the config alone. Pure: the apply step does the I/O.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject } from '../kube/client.ts';
import type { OwnedInput } from './context.ts';
import { buildConfigMap } from './configmap.ts';
import { configHash } from './config-hash.ts';
import { buildDaemonSet } from './daemonset.ts';
import { buildClusterRole, buildClusterRoleBinding, buildServiceAccount } from './rbac.ts';

/** In apply order: identity and configuration before the pods that use them. */
export function buildDesiredObjects(input: OwnedInput): KubeObject[] {
  const configMap = buildConfigMap(input);
  const objects: KubernetesObject[] = [
    buildServiceAccount(input),
    buildClusterRole(input),
    buildClusterRoleBinding(input),
    configMap,
    buildDaemonSet(input, configHash(configMap.data)),
  ];
  // The builders never set server-populated fields (timestamps), where the client-node types use Date.
  return objects as KubeObject[];
}
