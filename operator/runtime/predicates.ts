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

/** Drops events whose object is exactly one this process wrote (see WriteEchoes). */
export function notOwnWrite<T extends Meta>(echoes: { isEcho(object: T): boolean }): Predicate<T> {
  return (e) => e.type === 'delete' || !echoes.isEcho(e.object);
}

export function all<T>(...predicates: Predicate<T>[]): Predicate<T> {
  return (e) => predicates.every((p) => p(e));
}

export function any<T>(...predicates: Predicate<T>[]): Predicate<T> {
  return (e) => predicates.some((p) => p(e));
}

/**
 * The objects this process wrote, by uid and the resourceVersion the API server answered with: the watch
 * event that brings the same version back is our own write's echo, and the reconcile that made it already used
 * that answer. Bounded: the oldest are dropped first (an echo missed costs one harmless reconcile).
 */
export class WriteEchoes {
  private readonly written = new Map<string, string>();
  private readonly max: number;

  constructor(max = 10_000) {
    this.max = max;
  }

  record(object: Meta): void {
    const rv = object.metadata?.resourceVersion;
    const id = object.metadata?.uid;
    if (!rv || !id) return;
    this.written.delete(id);
    this.written.set(id, rv);
    while (this.written.size > this.max) this.written.delete(this.written.keys().next().value as string);
  }

  isEcho(object: Meta): boolean {
    const rv = object.metadata?.resourceVersion;
    const id = object.metadata?.uid;
    return rv !== undefined && id !== undefined && this.written.get(id) === rv;
  }
}
