// Which revision ConfigMaps of a config stay. Pure. A revision goes only when no pod of the DaemonSet uses it
// (a pod's config volume must exist for the kubelet to restart its container) and it is neither the current
// nor the previous one (rolling back to the previous spec finds its ConfigMap still there).
import type { KubeObject } from '../kube/client.ts';
import { LABEL_REVISION } from '../manifests/names.ts';

export interface RetentionInput {
  current: string;
  previous?: string;
  /** The revisions the config's pods run (their ssmagent.io/revision annotation). */
  podRevisions: Iterable<string>;
}

export function revisionsToKeep(input: RetentionInput): Set<string> {
  const keep = new Set<string>([input.current, ...input.podRevisions]);
  if (input.previous) keep.add(input.previous);
  return keep;
}

/** The revision an owned object holds, when it is a revision ConfigMap. */
export function revisionOf(object: KubeObject): string | undefined {
  return object.kind === 'ConfigMap' ? object.metadata?.labels?.[LABEL_REVISION] : undefined;
}

/** For applyAndPrune: keep revision ConfigMaps in `keep`; anything else is decided by the desired list. */
export function keepRevisions(keep: ReadonlySet<string>): (object: KubeObject) => boolean {
  return (object) => {
    const rev = revisionOf(object);
    return rev !== undefined && keep.has(rev);
  };
}
