// Which config keys an informer event should enqueue. Pure: this is where reconcile loops are prevented
// (our own status writes and no-op updates enqueue nothing).
import type { SsmAgentConfig } from '../api/types.ts';
import type { KubeObject } from '../kube/client.ts';
import type { InformerEvent } from '../kube/informer.ts';
import { canonicalJson } from '../manifests/config-hash.ts';
import { ANNOTATION_REVISION, LABEL_CONFIG } from '../manifests/names.ts';
import { dataDigest, referencedInputs, type InputRef } from '../manifests/revision.ts';
import type { PodObservation } from '../controllers/rollout.ts';
import type { NodeObject } from '../controllers/node-selection.ts';

export type KeysToQueue = 'all' | string[];

export function keysForConfigEvent(event: InformerEvent<SsmAgentConfig>): KeysToQueue {
  if (event.type !== 'update') return 'all'; // a config appearing or going changes who conflicts with whom
  const { object: now, old } = event;
  if (now.metadata.generation !== old.metadata.generation) return 'all';
  const meta = (c: SsmAgentConfig) => canonicalJson([c.metadata.deletionTimestamp ?? null, c.metadata.finalizers ?? []]);
  return meta(now) !== meta(old) ? [now.metadata.name] : [];
}

export function nodeEventMatters(event: InformerEvent<NodeObject>): boolean {
  if (event.type !== 'update') return true;
  const shape = (n: NodeObject) => canonicalJson([n.metadata?.labels ?? {}, n.spec?.taints ?? []]);
  return shape(event.object) !== shape(event.old);
}

export function keysForOwnedEvent(event: InformerEvent<KubeObject>): KeysToQueue {
  const name = event.object.metadata?.labels?.[LABEL_CONFIG];
  return name ? [name] : [];
}

/** Nodes are cached with only what node selection needs: status (images, conditions) is most of a Node's bytes. */
export function trimNode(node: NodeObject): NodeObject {
  // Of the annotations only ours are kept: they are compared before the operator writes them.
  const ours = Object.entries(node.metadata?.annotations ?? {}).filter(([k]) => k.startsWith('ssmagent.io/'));
  return {
    metadata: { name: node.metadata?.name, labels: node.metadata?.labels, annotations: Object.fromEntries(ours), resourceVersion: node.metadata?.resourceVersion },
    spec: { taints: node.spec?.taints, unschedulable: node.spec?.unschedulable },
  };
}

/**
 * Objects cached whole (configs, the owned objects) are cached without metadata.managedFields: nothing reads it
 * (server-side apply keeps it on the server), and it is often the largest part of an object.
 */
export function withoutManagedFields<T extends KubeObject>(object: T): T {
  const meta = object.metadata as (KubeObject['metadata'] & { managedFields?: unknown }) | undefined;
  if (!meta?.managedFields) return object;
  const { managedFields: _dropped, ...rest } = meta;
  return { ...object, metadata: rest };
}

/** Node-agent pods are cached with only what the rollout needs: node, revision, readiness. */
export function trimPod(pod: PodObservation & KubeObject): PodObservation & KubeObject {
  const revision = pod.metadata?.annotations?.[ANNOTATION_REVISION];
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    metadata: {
      name: pod.metadata?.name,
      namespace: pod.metadata?.namespace,
      labels: pod.metadata?.labels,
      resourceVersion: pod.metadata?.resourceVersion,
      ...(revision ? { annotations: { [ANNOTATION_REVISION]: revision } } : {}),
      ...(pod.metadata?.deletionTimestamp ? { deletionTimestamp: pod.metadata.deletionTimestamp } : {}),
    },
    spec: { ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}) },
    status: { conditions: ready ? [{ type: ready.type, status: ready.status }] : [] },
  } as PodObservation & KubeObject;
}

/** A referenced Secret or ConfigMap as the operator keeps it: its digest, never its data. */
export type InputObject = KubeObject & { digest: string };

export function digestOnly(object: KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string> }): InputObject {
  return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.metadata?.name, namespace: object.metadata?.namespace, resourceVersion: object.metadata?.resourceVersion }, digest: dataDigest(object.data, object.binaryData) } as InputObject;
}

/** The configs whose revision includes this Secret or ConfigMap. */
export function configsReferencing(configs: readonly SsmAgentConfig[], kind: InputRef['kind'], name: string | undefined): string[] {
  if (!name) return [];
  return configs.flatMap((c) => {
    try {
      return referencedInputs(c).some((r) => r.kind === kind && r.name === name) ? [c.metadata.name] : [];
    } catch {
      return []; // a config without a usable spec references nothing
    }
  });
}
