// The tags of one config's managed instances as last read or written, so that a sweep costs its listing's pages
// (DescribeInstanceInformation, 50 a page) and not one ListTagsForResource per instance. An entry is trusted only
// while the tag-filtered listing still returns the instance with this cluster's and config's tags (SSM's fresh
// word on those two); an instance that leaves the listing is forgotten, and one whose cached cluster or config
// tag disagrees with the listing is read again. The operator is the only writer of the node tag.
import { TAG_CLUSTER, TAG_CONFIG } from '../activations/tags.ts';

export class InstanceTagCache {
  private readonly tags = new Map<string, Record<string, string>>();

  /** The cached tags, when they agree with a listing filtered on this cluster and config. */
  listed(id: string, cluster: string, config: string): Record<string, string> | undefined {
    const t = this.tags.get(id);
    return t && t[TAG_CLUSTER] === cluster && t[TAG_CONFIG] === config ? t : undefined;
  }

  set(id: string, tags: Record<string, string>): void {
    this.tags.set(id, { ...tags });
  }

  /** After AddTagsToResource: SSM merges the given tags into the instance's. */
  merge(id: string, tags: Record<string, string>): void {
    const t = this.tags.get(id);
    if (t) this.tags.set(id, { ...t, ...tags });
  }

  delete(id: string): void {
    this.tags.delete(id);
  }

  /** Keeps only these instances (the listing and the reported ones): the cache never outgrows the fleet. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.tags.keys()) if (!ids.has(id)) this.tags.delete(id);
  }

  get size(): number {
    return this.tags.size;
  }
}
