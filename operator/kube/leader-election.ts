// Leader election on a coordination.k8s.io Lease, after client-go's: expiry is judged by when *we* last saw
// the record change, not by the other process's clock.
import type { Logger } from 'pino';
import { sleep } from '../lib/sleep.ts';
import { isConflict, type KubeClient } from './client.ts';
import { errorMessage } from './informer.ts';
import type { OwnerReference } from './installation-owner.ts';
import * as kube from './objects.ts';
import { RESOURCES } from './resources.ts';

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; ownerReferences?: OwnerReference[] };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /**
   * Set on the Lease when this process creates it. A replica may create it after helm uninstall deleted the
   * Service (and the garbage collector the old Lease): owned from creation, that Lease is collected too.
   */
  owner?: OwnerReference;
}

const microTime = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector {
  private readonly opts: Required<Omit<LeaderElectionOptions, 'owner'>>;
  private readonly owner: OwnerReference | undefined;
  private observed?: { record: string; at: number };
  private leading = false;

  constructor(opts: LeaderElectionOptions) {
    this.opts = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    this.owner = opts.owner;
  }

  isLeader(): boolean {
    return this.leading;
  }

  private get key() {
    return { namespace: this.opts.namespace, name: this.opts.name };
  }

  /** Blocks until this process holds the lease (or the signal aborts). Returns whether it leads. */
  async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.opts.log.info({ lease: this.opts.name, identity: this.opts.identity }, 'became leader');
        return true;
      }
      await sleep(this.opts.retryPeriodMs, signal);
    }
    return false;
  }

  /** Renews until renewal fails for longer than the renew deadline; resolves then (leadership is lost). */
  async holdUntilLost(signal: AbortSignal): Promise<void> {
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(this.opts.retryPeriodMs, signal);
      if (signal.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.opts.renewDeadlineMs) {
        this.leading = false;
        this.opts.log.error({ lease: this.opts.name }, 'lost leadership');
        return;
      }
    }
  }

  /** Gives the lease up so another replica takes over at once instead of after it expires. */
  async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await kube.get<Lease>(this.opts.client, RESOURCES.lease, this.key);
      if (lease.spec.holderIdentity !== this.opts.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) };
      await kube.replace(this.opts.client, lease, { timeoutMs: 5_000 });
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err) }, 'could not release the lease');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, identity, namespace, name, leaseDurationMs } = this.opts;
    const now = Date.now();
    const spec = { holderIdentity: identity, leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000), renewTime: microTime(now) };
    try {
      const lease = await kube.getOptional<Lease>(client, RESOURCES.lease, this.key, { timeoutMs: this.opts.renewDeadlineMs });
      if (!lease) {
        const created: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, ...(this.owner ? { ownerReferences: [this.owner] } : {}) }, spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } };
        await kube.create(client, created);
        return true;
      }
      const record = JSON.stringify(lease.spec);
      if (this.observed?.record !== record) this.observed = { record, at: now };
      const holder = lease.spec.holderIdentity ?? '';
      const duration = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
      const expired = holder === '' || this.observed.at + duration < now;
      if (holder !== identity && !expired) return false;
      const transitions = (lease.spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
      lease.spec = { ...lease.spec, ...spec, leaseTransitions: transitions, ...(holder === identity ? {} : { acquireTime: microTime(now) }) };
      await kube.replace(client, lease, { timeoutMs: this.opts.renewDeadlineMs });
      return true;
    } catch (err) {
      if (!isConflict(err)) this.opts.log.warn({ err: errorMessage(err) }, 'lease acquire/renew failed');
      return false;
    }
  }
}
