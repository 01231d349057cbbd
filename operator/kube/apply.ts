// The one generic apply step: server-side apply of every desired object with our field manager, then prune of
// the objects we own that are no longer desired. Decisions (what to prune) are pure; this file does the I/O.
import type { KubeClient, KubeObject } from './client.ts';
import * as kube from './objects.ts';

export interface ApplyResult {
  /** every desired object as it now stands: the server's answer, or the live object where nothing was sent */
  applied: KubeObject[];
  /** the server's answers to what was sent (their resourceVersions come back as watch events) */
  written: KubeObject[];
  pruned: string[];
}

/** Told of every write as it starts and ends, so the watch events it causes can be recognised (runtime/predicates.ts). */
export interface WriteTracker {
  begin(ref: string): void;
  end(ref: string, outcome: { resourceVersion: string | undefined } | 'deleted' | 'failed'): void;
}

export const objectRef = (o: KubeObject): string => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

/** Objects in `existing` that are not in `desired` (by kind, namespace and name) and not kept. Pure. */
export function objectsToPrune(existing: KubeObject[], desired: KubeObject[], keep: (o: KubeObject) => boolean = () => false): KubeObject[] {
  const wanted = new Set(desired.map(objectRef));
  return existing.filter((o) => !wanted.has(objectRef(o)) && !o.metadata?.deletionTimestamp && !keep(o));
}

/**
 * Applies `desired` in order, then deletes the objects in `existing` (what the informers see as owned by this
 * config) that are no longer desired and not kept (old revisions that pods still use). A desired object that
 * `unchanged` vouches for (as last applied, and live at the version that left) is not sent.
 */
export async function applyAndPrune(
  client: KubeClient,
  desired: KubeObject[],
  existing: KubeObject[],
  keep?: (o: KubeObject) => boolean,
  unchanged: (o: KubeObject) => boolean = () => false,
  tracker?: WriteTracker,
): Promise<ApplyResult> {
  // Workloads go last, everything they use first (in parallel): a pod never starts without its ServiceAccount
  // or ConfigMap, and a reconcile costs two round trips rather than one per object.
  const isWorkload = (o: KubeObject) => o.kind === 'DaemonSet';
  const live = new Map(existing.map((o) => [objectRef(o), o]));
  const written: KubeObject[] = [];
  const apply = async (o: KubeObject): Promise<KubeObject> => {
    const current = live.get(objectRef(o));
    if (current && unchanged(o)) return current;
    const ref = objectRef(o);
    tracker?.begin(ref);
    let answer: KubeObject | undefined;
    try {
      answer = await kube.apply(client, o);
    } finally {
      tracker?.end(ref, answer ? { resourceVersion: answer.metadata?.resourceVersion } : 'failed');
    }
    written.push(answer);
    return answer;
  };
  const applied = await Promise.all(desired.filter((o) => !isWorkload(o)).map(apply));
  for (const object of desired.filter(isWorkload)) applied.push(await apply(object));
  const prune = objectsToPrune(existing, desired, keep);
  for (const object of prune) {
    tracker?.begin(objectRef(object));
    let done = false;
    try {
      await kube.remove(client, object);
      done = true;
    } finally {
      tracker?.end(objectRef(object), done ? 'deleted' : 'failed');
    }
  }
  return { applied, written, pruned: prune.map(objectRef) };
}
