// Everything a config should own, built from the config alone. Pure: the apply step does the I/O.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject } from '../kube/client.ts';
import type { OwnedInput } from './context.ts';
import { buildRevisionConfigMap } from './configmap.ts';
import { buildDaemonSet } from './daemonset.ts';
import { buildServiceAccount } from './rbac.ts';
import { renderRevision } from './revision.ts';

export interface DesiredOptions {
  /** A halted rollout: the DaemonSet controller replaces no further pod (OnDelete) until the revision changes. */
  halted?: boolean;
}

/** In apply order: identity and configuration before the pods that use them. */
export function buildDesiredObjects(input: OwnedInput, opts: DesiredOptions = {}): KubeObject[] {
  const rev = renderRevision(input);
  const daemonSet = buildDaemonSet(input, rev.revision);
  if (daemonSet.spec) {
    // The config is being deleted with deletionPolicy Uninstall: every node removes the agent at once (the
    // finalizer waits for all of them); a halted rollout moves no further node.
    if (input.action === 'Uninstall') daemonSet.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '100%', maxSurge: 0 } };
    else if (opts.halted) daemonSet.spec.updateStrategy = { type: 'OnDelete' };
  }
  const objects: KubernetesObject[] = [
    buildServiceAccount(input),
    buildRevisionConfigMap(input, rev),
    daemonSet,
  ];
  // The builders never set server-populated fields (timestamps), where the client-node types use Date.
  return objects as KubeObject[];
}
