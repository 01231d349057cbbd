// Event filters in front of a controller's queue, in the manner of controller-runtime's predicates: an event that
// cannot change what a reconcile decides (a resync replaying an object, status churn of a field nobody reads,
// the echo of our own write) enqueues nothing. Pure; the shapes are structural so any informer's events fit.

export type ObjectEvent<T> = { type: 'add'; object: T } | { type: 'update'; object: T; old: T } | { type: 'delete'; object: T };
export type Predicate<T> = (event: ObjectEvent<T>) => boolean;

interface Meta {
  metadata?: { uid?: string; generation?: number; resourceVersion?: string };
}

/** Adds and deletes pass; an update passes when `key` of the object differs from `key` of the old one. */
export function changed<T>(key: (object: T) => string): Predicate<T> {
  return (e) => e.type !== 'update' || key(e.object) !== key(e.old);
}

/** An update passes only when metadata.generation moved (the spec changed), as GenerationChangedPredicate. */
export const generationChanged: Predicate<Meta> = changed((o) => String(o.metadata?.generation ?? ''));

/** An update that carries the same resourceVersion (a relist replaying the object) is dropped. */
export const resourceVersionChanged: Predicate<Meta> = changed((o) => o.metadata?.resourceVersion ?? '');

export function all<T>(...predicates: Predicate<T>[]): Predicate<T> {
  return (e) => predicates.every((p) => p(e));
}

export function any<T>(...predicates: Predicate<T>[]): Predicate<T> {
  return (e) => predicates.some((p) => p(e));
}

/**
 * The objects this process writes, by reference (kind/namespace/name) and the resourceVersion the API server
 * answered with: the watch event that brings that version back (or the deletion of what we deleted) is our own
 * write's echo, and the reconcile that made it already used the answer. A watch event can arrive before the answer
 * does: an event for an object whose write is still in flight is held and judged once the write ends. Bounded:
 * the oldest are dropped first (an echo missed costs one harmless reconcile).
 */
export class WriteEchoes {
  private readonly last = new Map<string, string>();
  private readonly inFlight = new Map<string, { writes: number; held: { rv: string | undefined; deleted: boolean; onOther: () => void }[] }>();
  private readonly max: number;

  constructor(max = 10_000) {
    this.max = max;
  }

  begin(ref: string): void {
    const f = this.inFlight.get(ref) ?? { writes: 0, held: [] };
    f.writes++;
    this.inFlight.set(ref, f);
  }

  /** The write ended: with the answer's resourceVersion, 'deleted', or 'failed' (nothing of ours to echo). */
  end(ref: string, outcome: { resourceVersion: string | undefined } | 'deleted' | 'failed'): void {
    if (outcome === 'deleted') this.remember(ref, DELETED);
    else if (outcome !== 'failed' && outcome.resourceVersion) this.remember(ref, outcome.resourceVersion);
    const f = this.inFlight.get(ref);
    if (!f) return;
    if (--f.writes > 0) return;
    this.inFlight.delete(ref);
    for (const h of f.held) if (!this.matches(ref, h.rv, h.deleted)) h.onOther();
  }

  /** 'own': our echo; 'other': someone else's change; 'held': a write is in flight, `onOther` runs if it was not ours. */
  classify(ref: string, rv: string | undefined, deleted: boolean, onOther: () => void): 'own' | 'other' | 'held' {
    const f = this.inFlight.get(ref);
    if (f) {
      f.held.push({ rv, deleted, onOther });
      return 'held';
    }
    return this.matches(ref, rv, deleted) ? 'own' : 'other';
  }

  private matches(ref: string, rv: string | undefined, deleted: boolean): boolean {
    const last = this.last.get(ref);
    return deleted ? last === DELETED : rv !== undefined && last === rv;
  }

  private remember(ref: string, value: string): void {
    this.last.delete(ref);
    this.last.set(ref, value);
    while (this.last.size > this.max) this.last.delete(this.last.keys().next().value as string);
  }
}

const DELETED = '(deleted)';
