// The fleet part of a config's status, from what its node agents reported. Pure.
import type { SsmAgentConfigStatus } from '../api/types.ts';
import { canonicalJson } from '../manifests/config-hash.ts';
import { nodeFailure, type FleetEntry } from '../fleet/fleet-store.ts';

export const MAX_FAILING_NODES = 20;

export interface FleetAggregate {
  installed: number;
  registered: number;
  failing: number;
  agentVersions: NonNullable<SsmAgentConfigStatus['agentVersions']>;
  failingNodes: NonNullable<SsmAgentConfigStatus['failingNodes']>;
}

/** Only nodes the config still selects count: a report from a node that left the selection is stale. */
export function aggregateFleet(entries: FleetEntry[], selected: ReadonlySet<string>): FleetAggregate {
  const current = entries.filter((e) => selected.has(e.node));
  const versions = new Map<string, number>();
  const failing: NonNullable<SsmAgentConfigStatus['failingNodes']> = [];
  let installed = 0;
  let registered = 0;
  for (const e of current) {
    const version = e.state.observation?.version;
    if (version) {
      installed++;
      versions.set(version, (versions.get(version) ?? 0) + 1);
    }
    if (e.state.observation?.instanceId) registered++;
    const failure = nodeFailure(e.state);
    if (failure) failing.push({ node: e.node, reason: failure.reason, message: failure.message.slice(0, 512), since: new Date(e.failingSince ?? 0).toISOString() });
  }
  failing.sort((a, b) => (a.since === b.since ? a.node.localeCompare(b.node) : a.since.localeCompare(b.since)));
  return {
    installed,
    registered,
    failing: failing.length,
    agentVersions: [...versions].map(([version, count]) => ({ version, count })).sort((a, b) => b.count - a.count || a.version.localeCompare(b.version)),
    failingNodes: failing.slice(0, MAX_FAILING_NODES),
  };
}

/**
 * The fleet part status shows while a new leader's agents are still reconnecting (`warmingMs` > 0) and not every
 * selected node has reported yet: what the previous leader wrote, so that a failover or an operator upgrade does
 * not dip the counts (and Ready) to what the first few reconnected agents said. Otherwise, and when nothing was
 * written before, the aggregate of the reports. Pure.
 */
export function fleetForStatus(input: {
  entries: FleetEntry[];
  selected: ReadonlySet<string>;
  previous: SsmAgentConfigStatus | undefined;
  warmingMs: number;
}): { fleet: FleetAggregate; incomplete: boolean } {
  const fleet = aggregateFleet(input.entries, input.selected);
  const reported = new Set(input.entries.filter((e) => input.selected.has(e.node)).map((e) => e.node)).size;
  const nodes = input.previous?.nodes;
  if (input.warmingMs <= 0 || reported >= input.selected.size || nodes?.installed === undefined || nodes.registered === undefined) return { fleet, incomplete: false };
  const failingNodes = input.previous?.failingNodes ?? [];
  const held: FleetAggregate = {
    installed: nodes.installed,
    registered: nodes.registered,
    failing: nodes.failing ?? failingNodes.length,
    agentVersions: input.previous?.agentVersions ?? [],
    failingNodes,
  };
  // `incomplete`: what is shown differs from the reports, so a pass is needed once the window has passed. When the
  // two agree (a quiet cluster whose agents never reported), nothing would change and no pass is asked for.
  return { fleet: held, incomplete: canonicalJson(held) !== canonicalJson(fleet) };
}
