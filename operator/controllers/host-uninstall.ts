// deletionPolicy Uninstall, the part of the finalizer that reaches the hosts: the node agents are told to remove
// the agent (the rendered action), and the finalizer waits until every selected node confirms over the fleet
// channel, or the timeout passes. Its state is an annotation on the config, so a new leader carries on the wait.
import { applyAndPrune } from '../kube/apply.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import { GROUP } from '../api/group.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import type { FleetEntry } from '../fleet/fleet-store.ts';
import type { BuildContext, OwnedInput } from '../manifests/context.ts';
import { buildDesiredObjects } from '../manifests/desired-objects.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { EventRecorder } from './event-recorder.ts';
import { coveredNodeNames, type NodeObject } from './node-selection.ts';
import { keepRevisions } from './revision-retention.ts';
import { podRevision, type PodObservation } from './rollout.ts';
import { UNINSTALL_TIMEOUT_MS, uninstallProgress } from './uninstall-progress.ts';
import type { ValidatedConfig } from './validated-config.ts';

/** When the node agents were told to uninstall (the finalizer's state, kept on the object). */
export const ANNOTATION_UNINSTALL_STARTED = `${GROUP}/uninstall-started-at`;
const UNINSTALL_POLL_MS = 10_000;

export interface HostUninstallDeps {
  client: KubeClient;
  /** The controller's caches (ControllerCaches), as far as the uninstall reads them. */
  caches: {
    owned(configName: string): KubeObject[];
    nodes(): NodeObject[];
    /** Absent when the fleet channel is off: then nothing can confirm a removal. */
    fleet?: (configName: string) => FleetEntry[];
    pods?: (configName: string) => PodObservation[];
  };
  context: BuildContext;
  events: EventRecorder;
  /** The digests of the inputs the config's node agents read (they count in the revision). */
  digests(config: SsmAgentConfig): Record<string, string>;
  /** The controller's memory of what it applied for the config is stale once the uninstall revision is applied. */
  forgetApplied(name: string): void;
}

/** Returns a requeue while waiting; undefined when the rest of the finalizer may run. */
export async function uninstallFromHosts(config: ValidatedConfig, deps: HostUninstallDeps): Promise<ReconcileResult | undefined> {
  const { client, caches, events } = deps;
  const name = config.metadata.name;
  const owned = caches.owned(name);
  // A config that never ran a node agent (it was Conflicted) has nothing on the hosts to remove.
  if (!owned.some((o) => o.kind === 'DaemonSet')) return undefined;
  if (!caches.fleet) {
    await events.record(config, {
      type: 'Warning',
      reason: 'UninstallUnconfirmed',
      message: 'deletionPolicy Uninstall needs the fleet channel (FLEET_PORT) to confirm removal; it is off, so the agent is left on the hosts.',
    });
    return undefined;
  }
  if (!config.verdict.ok) return undefined;
  const valid = config.verdict.config;
  const started = config.metadata.annotations?.[ANNOTATION_UNINSTALL_STARTED];
  if (!started) {
    // The revisions the pods run stay until the pods are gone: a restarting container needs its config volume.
    const podRevisions = (caches.pods?.(name) ?? []).flatMap((p) => podRevision(p) ?? []);
    const input: OwnedInput = { config: valid, context: deps.context, action: 'Uninstall', inputs: { digests: deps.digests(valid) } };
    await applyAndPrune(client, buildDesiredObjects(input), owned, keepRevisions(new Set(podRevisions)));
    deps.forgetApplied(name);
    await kube.mergePatch(client, RESOURCES.ssmAgentConfig, { name }, { metadata: { annotations: { [ANNOTATION_UNINSTALL_STARTED]: new Date().toISOString() } } });
    await events.record(config, {
      type: 'Normal',
      reason: 'Uninstalling',
      message: `The node agents are removing amazon-ssm-agent from the hosts; the config goes once every node confirms (at most ${UNINSTALL_TIMEOUT_MS / 60_000} minutes).`,
    });
    return { requeueAfterMs: UNINSTALL_POLL_MS };
  }
  const selected = coveredNodeNames(valid.spec, caches.nodes());
  const progress = uninstallProgress(selected, caches.fleet(name), Date.parse(started), Date.now());
  if (!progress.done) return { requeueAfterMs: UNINSTALL_POLL_MS };
  await events.record(
    config,
    progress.unconfirmed.length > 0
      ? { type: 'Warning', reason: 'UninstallUnconfirmed', message: `No confirmation that the agent was removed from: ${progress.unconfirmed.slice(0, 20).join(', ')}${progress.unconfirmed.length > 20 ? ' …' : ''}. Check those hosts.` }
      : { type: 'Normal', reason: 'Uninstalled', message: `amazon-ssm-agent was removed from all ${selected.length} selected nodes.` },
  );
  return undefined;
}
