// Duplicate registrations: a host that registered twice leaves SSM with a managed instance nobody uses. It happens
// when RegisterManagedInstance registered the host but its answer was lost (connection cut, node agent killed,
// timeout): the host has no registration on disk and registers again. The lost one is never pinged (no agent has
// its key), never reported, never tagged with a node. A host whose registration on disk was lost leaves an older
// instance behind too, which pinged once with the host's ComputerName. Pure.
//
// A candidate is an instance of this config (its activation, its cluster and config tags) that no node reports, that
// the sweep never tagged with a node (a node-tagged one is NodeDeleted/NodeReplaced's), that SSM does not see Online
// (an instance in use pings), registered more than `graceMs` ago (a host that just registered may not have reported
// yet). It is deregistered only when a Node of this config reports another instance of this config that SSM sees
// Online and that registered after it (the host runs another registration now):
// - with a ComputerName (it pinged once): that Node's instance pinged with the same ComputerName, and no other Node
//   reports an instance with that ComputerName (two hosts with one hostname: nobody can tell which it was);
// - without one (never pinged: what a lost answer leaves): the first such Node to register after it is named as the
//   probable host. No host has used it: a host with its key would have reported it (the sweep would have tagged it
//   with its node) or pinged with it.
// Anything missing (no registration date, no ping status, no annotation reported) leaves the instance alone.
import { TAG_NODE } from '../activations/tags.ts';

export interface DuplicateCandidate {
  id: string;
  tags: Record<string, string>;
  pingStatus?: string | undefined;
  registeredAt?: Date | undefined;
  computerName?: string | undefined;
}

/** A Node of this config and the instance it reports (its managed-instance-id annotation), owned by this config. */
export interface HostAnchor {
  node: string;
  instance: DuplicateCandidate;
}

export interface DuplicateDecision {
  id: string;
  /** the Node whose host the duplicate was (probably, when it never pinged) */
  node: string;
  /** the instance that Node runs now */
  current: string;
  message: string;
}

export interface PlanDuplicatesInput {
  /** owned, this cluster's and config's, managed (mi-), not reported by any node */
  candidates: readonly DuplicateCandidate[];
  /** every existing Node of this config that reports an owned managed instance */
  anchors: readonly HostAnchor[];
  now: Date;
  graceMs: number;
}

/** Hostnames compare case-insensitively, as DNS names do; blank is no name. */
const hostKey = (name: string | undefined) => {
  const k = name?.trim().toLowerCase();
  return k ? k : undefined;
};

/** A registration younger than this is never taken for a duplicate: its host may not have reported it yet. */
export const DEFAULT_DUPLICATE_GRACE_MS = 30 * 60_000;

const time = (d: Date | undefined) => (d instanceof Date && Number.isFinite(d.getTime()) ? d.getTime() : undefined);

export function planDuplicates(input: PlanDuplicatesInput): DuplicateDecision[] {
  const now = input.now.getTime();
  // a nonsense grace period (NaN, negative) is the default one, never "everything is old"
  const graceMs = Number.isFinite(input.graceMs) && input.graceMs >= 0 ? input.graceMs : DEFAULT_DUPLICATE_GRACE_MS;
  // Nodes that report the same instance (a copied disk, a lying agent) are no anchor: who runs it is unclear.
  const reporters = new Map<string, number>();
  for (const a of input.anchors) reporters.set(a.instance.id, (reporters.get(a.instance.id) ?? 0) + 1);
  const anchors = input.anchors.filter((a) => a.instance.pingStatus === 'Online' && time(a.instance.registeredAt) !== undefined && reporters.get(a.instance.id) === 1);
  // every reported instance's hostname, Online or not, for the "two hosts, one hostname" rule
  const nodesByHost = new Map<string, Set<string>>();
  for (const a of input.anchors) {
    const k = hostKey(a.instance.computerName);
    if (k) nodesByHost.set(k, new Set([...(nodesByHost.get(k) ?? []), a.node]));
  }
  const out: DuplicateDecision[] = [];
  for (const c of input.candidates) {
    const registered = time(c.registeredAt);
    if (registered === undefined || now - registered < graceMs) continue;
    if (c.pingStatus === undefined || c.pingStatus === 'Online') continue;
    if (c.tags[TAG_NODE]) continue;
    if (reporters.has(c.id)) continue;
    const later = anchors.filter((a) => (time(a.instance.registeredAt) ?? 0) > registered).sort((x, y) => (time(x.instance.registeredAt) ?? 0) - (time(y.instance.registeredAt) ?? 0));
    const host = hostKey(c.computerName);
    if (host !== undefined) {
      if ((nodesByHost.get(host)?.size ?? 0) !== 1) continue;
      const a = later.find((x) => hostKey(x.instance.computerName) === host);
      if (!a) continue;
      out.push({ id: c.id, node: a.node, current: a.instance.id, message: `Node ${a.node} (host ${c.computerName?.trim() ?? ''}) now runs managed instance ${a.instance.id}, registered after ${c.id}, which is not Online: the host registered twice` });
      continue;
    }
    const a = later[0];
    if (!a) continue;
    out.push({ id: c.id, node: a.node, current: a.instance.id, message: `${c.id} registered with this config's activation but never pinged and no node reports it (a registration whose answer was lost); Node ${a.node} registered again after it and runs ${a.instance.id}` });
  }
  return out;
}
