// This cluster's identity in Systems Manager (the ssmagent.io/cluster tag on activations and managed instances).
// Two clusters that share an identity would sweep each other's instances, so the default is unique: derived from
// the UID of the kube-system namespace, which every cluster has and which never changes for the cluster's life.
// An explicit clusterName (the chart's value, CLUSTER_NAME) wins. Read once, when the operator starts.
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';

/** The identity the operator used before it was derived (shared by every cluster left at the default). */
export const LEGACY_DEFAULT_CLUSTER_NAME = 'kubernetes';

/** The identity derived from the kube-system namespace's UID. Pure. */
export function clusterIdentityFromUid(uid: string): string {
  if (!/^[0-9a-f-]{8,64}$/i.test(uid)) throw new Error(`Namespace kube-system has an unexpected UID ${JSON.stringify(uid)}`);
  return `k8s-${uid.toLowerCase()}`;
}

/** `configured` when set, else the identity derived from kube-system's UID. Throws a message that names the fix. */
export async function resolveClusterName(client: KubeClient, configured: string): Promise<string> {
  if (configured !== '') return configured;
  let uid: string | undefined;
  try {
    uid = (await kube.get<{ metadata?: { uid?: string } }>(client, RESOURCES.namespace, { name: 'kube-system' })).metadata?.uid;
  } catch (err) {
    throw new Error(
      `cannot derive this cluster's identity from Namespace kube-system (${errorMessage(err)}): grant the operator "get" on namespaces/kube-system (the chart's ClusterRole does), or set clusterName (CLUSTER_NAME) to a name unique among the clusters that share this AWS account and region`,
      { cause: err },
    );
  }
  if (!uid) throw new Error('Namespace kube-system has no UID: set clusterName (CLUSTER_NAME) to a name unique among the clusters that share this AWS account and region');
  return clusterIdentityFromUid(uid);
}
