// Which config keys an informer event should enqueue, and which events cannot change an outcome (predicates,
// runtime/predicates.ts). Pure: this is where reconcile loops are prevented (our own writes, status churn nobody
// reads and resourceVersion-only updates enqueue nothing).
import type { SsmAgentConfig } from '../api/types.ts';
import type { KubeObject } from '../kube/client.ts';
import type { InformerEvent } from '../kube/informer.ts';
import { canonicalJson } from '../manifests/config-hash.ts';
import { ANNOTATION_REVISION, LABEL_CONFIG } from '../manifests/names.ts';
import { dataDigest, referencedInputs, type InputRef } from '../manifests/revision.ts';
import type { PodObservation } from '../controllers/rollout.ts';
import type { NodeObject } from '../controllers/node-selection.ts';
import type { DaemonSetObservation } from '../controllers/status.ts';
import { objectRef } from '../kube/apply.ts';
import { any, changed, generationChanged, resourceVersionChanged, type Predicate, type WriteEchoes } from '../runtime/predicates.ts';

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

type Labelled = KubeObject & { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };

/** What a DaemonSet's owner decides from: its spec's generation and its metadata (someone else's edit is drift). */
export function daemonSetSpecShape(ds: KubeObject & DaemonSetObservation): string {
  const m = (ds as Labelled).metadata;
  return canonicalJson([ds.metadata?.generation ?? ds.generation ?? null, m?.labels ?? {}, m?.annotations ?? {}]);
}

/** The status counts status.ts reads. Other status fields (conditions, collisionCount, …) change nothing. */
export function daemonSetStatusShape(ds: KubeObject & DaemonSetObservation): string {
  const s = ds.status ?? {};
  return canonicalJson([s.observedGeneration, s.desiredNumberScheduled, s.numberReady, s.numberAvailable, s.updatedNumberScheduled, s.numberUnavailable].map((v) => v ?? null));
}

/**
 * When an event should wake the config's reconcile: 'now' for a change by someone else to what we own (drift, a
 * deletion), 'soon' for status churn (a DaemonSet's counts, node-agent pods coming and going during a rollout),
 * which arrives in bursts and is coalesced into one pass; 'never' for what cannot change the outcome.
 */
export type Wake = 'now' | 'soon' | 'never';

/**
 * Owned objects of one kind (the informer's objects carry no kind: list items do not). Our own writes' echoes wake
 * nothing; an event that arrives while our write of that object is in flight is judged once it ends (`later`).
 */
export function ownedEventWake(kind: string, echoes: WriteEchoes): (e: InformerEvent<KubeObject>, later: (w: Wake) => void) => Wake {
  const spec = changed<KubeObject>(daemonSetSpecShape);
  const status = changed<KubeObject>(daemonSetStatusShape);
  const byOthers = (e: InformerEvent<KubeObject>): Wake => {
    if (kind !== 'DaemonSet' || spec(e)) return 'now';
    return status(e) ? 'soon' : 'never';
  };
  return (e, later) => {
    if (!resourceVersionChanged(e)) return 'never';
    const ref = objectRef({ ...e.object, kind });
    const verdict = echoes.classify(ref, e.object.metadata?.resourceVersion, e.type === 'delete', () => later(byOthers(e)));
    return verdict === 'other' ? byOthers(e) : 'never';
  };
}

/** Pods are cached trimmed (trimPod): an update that leaves node, revision and readiness as they were changes
 * nothing; the rest is status churn ('soon'). */
export const podEventMatters: Predicate<PodObservation & KubeObject> = changed((p) => canonicalJson({ ...p, metadata: { ...p.metadata, resourceVersion: undefined } }));

/** A referenced Secret or ConfigMap matters when its data (digest) changes. */
export const inputEventMatters: Predicate<KubeObject> = changed((o) => (o as InputObject).digest);

/** What the SSM sync of a config depends on: its spec, its SSM bookkeeping (annotations: activation history and
 * intent), deletion, and how many of its hosts are registered (a registration moves rotation and tagging on).
 * Its own outcome in status (online, ActivationReady) and every other status write change nothing there. */
export const ssmSyncConfigEventMatters: Predicate<SsmAgentConfig> = any<SsmAgentConfig>(
  generationChanged,
  changed((c) => canonicalJson([c.metadata.annotations ?? {}, c.metadata.deletionTimestamp ?? null])),
  changed((c) => canonicalJson([c.status?.nodes?.registered ?? null, c.status?.nodes?.desired ?? null])),
);
