// What the operator creates for itself at run time (the fleet channel's CA ConfigMap and TLS Secret, the leader
// Lease) is not in the Helm release, so `helm uninstall` would leave it behind. Each gets an ownerReference to the
// operator's own Service, which the release does own: when Helm deletes the Service, the garbage collector deletes
// them too. Pure builders plus one idempotent edge.
import type { KubeClient } from './client.ts';
import { errorMessage } from './informer.ts';
import * as kube from './objects.ts';
import { RESOURCES, type Resource } from './resources.ts';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

interface Owned {
  metadata?: { ownerReferences?: OwnerReference[] };
}

/** The operator's Service as an owner, or undefined when it cannot be read (a run outside the chart, e.g. tests). */
export async function installationOwner(client: KubeClient, namespace: string, serviceName: string): Promise<OwnerReference | undefined> {
  const svc = await kube.get<{ metadata?: { uid?: string } }>(client, RESOURCES.service, { namespace, name: serviceName }).catch(() => undefined);
  const uid = svc?.metadata?.uid;
  return uid ? { apiVersion: 'v1', kind: 'Service', name: serviceName, uid } : undefined;
}

/** The ownerReferences an object should have: its own, plus the owner when missing. Pure. */
export function withOwner(current: readonly OwnerReference[] | undefined, owner: OwnerReference): OwnerReference[] | undefined {
  const list = current ?? [];
  return list.some((o) => o.uid === owner.uid) ? undefined : [...list, owner];
}

/** Adds the owner to the object unless it has it already. Logs and goes on when it cannot. */
export async function ensureOwnedBy(
  client: KubeClient,
  resource: Resource,
  key: kube.ObjectKey,
  owner: OwnerReference,
  log: { warn(obj: object, msg: string): void },
): Promise<void> {
  try {
    const obj = await kube.get<Owned>(client, resource, key);
    const refs = withOwner(obj.metadata?.ownerReferences, owner);
    if (!refs) return;
    await kube.mergePatch(client, resource, key, { metadata: { ownerReferences: refs } });
  } catch (err) {
    log.warn({ kind: resource.kind, ...key, err: errorMessage(err) }, 'could not tie the object to the operator Service (helm uninstall may leave it behind)');
  }
}
