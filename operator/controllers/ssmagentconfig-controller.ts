// Reconciles one SsmAgentConfig: finalizer, conflicts, desired objects, one apply step, one status write.
// Reads come from informer caches; the only writes are the apply, the status and the finalizer.
import type { Logger } from 'pino';
import { API_VERSION, FINALIZER, KIND } from '../api/group.ts';
import type { SsmAgentConfig, SsmAgentConfigStatus } from '../api/types.ts';
import { parseSpec } from '../api/validate.ts';
import { applyAndPrune, deleteObject, objectRef } from '../kube/apply.ts';
import { isNotFound, type KubeClient, type KubeObject } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import { RESOURCES, resourcePath } from '../kube/resources.ts';
import type { BuildContext } from '../manifests/context.ts';
import { buildDesiredObjects } from '../manifests/desired-objects.ts';
import { configHash } from '../manifests/config-hash.ts';
import { FIELD_MANAGER, nodeAgentName } from '../manifests/names.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { findConflict } from './conflicts.ts';
import type { EventRecorder } from './event-recorder.ts';
import { coveredNodeNames, type NodeObject } from './node-selection.ts';
import { aggregateFleet } from './fleet-aggregate.ts';
import type { FleetEntry } from '../fleet/fleet-store.ts';
import { withActivationStatus } from '../activations/report.ts';
import type { AwsWiring } from '../manager/aws-wiring.ts';
import { computeStatus, statusEqual, transitionEvents, type DaemonSetObservation } from './status.ts';

export interface ControllerCaches {
  configs: () => SsmAgentConfig[];
  config: (name: string) => SsmAgentConfig | undefined;
  nodes: () => NodeObject[];
  /** Objects the operator owns for a config, across every owned kind. */
  owned: (configName: string) => KubeObject[];
  /** What the config's node agents reported over the fleet channel; absent when the channel is off. */
  fleet?: (configName: string) => FleetEntry[];
}

/** The desired objects and the live objects' identities and versions: equal fingerprints, nothing to apply. */
export function applyFingerprint(desired: KubeObject[], live: KubeObject[]): string {
  const versions = live.map((o) => `${objectRef(o)}@${o.metadata?.resourceVersion ?? ''}`).sort();
  return configHash([desired, versions]);
}

export interface ReconcileResult {
  /** Retry with backoff (a failure). */
  error?: string;
}

export class SsmAgentConfigController {
  static readonly NAME = 'ssmagentconfig';
  private readonly client: KubeClient;
  private readonly caches: ControllerCaches;
  private readonly context: BuildContext;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  private readonly metrics: OperatorMetrics;
  private readonly aws: Pick<AwsWiring, 'outcome' | 'finalize'> | undefined;
  /** Per config: what was last applied and the resourceVersions it left (see applyFingerprint). */
  private readonly lastApplied = new Map<string, string>();

  constructor(deps: {
    client: KubeClient;
    caches: ControllerCaches;
    context: BuildContext;
    log: Logger;
    events: EventRecorder;
    metrics: OperatorMetrics;
    /** The Systems Manager side (activations, managed instances); absent in tests that do not need it. */
    aws?: Pick<AwsWiring, 'outcome' | 'finalize'>;
  }) {
    this.client = deps.client;
    this.caches = deps.caches;
    this.context = deps.context;
    this.log = deps.log;
    this.events = deps.events;
    this.metrics = deps.metrics;
    this.aws = deps.aws;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const config = this.caches.config(name);
    if (!config) {
      this.forgetMetrics(name);
      return {};
    }
    if (config.metadata.deletionTimestamp) return this.finalize(config);
    if (!config.metadata.finalizers?.includes(FINALIZER)) await this.setFinalizers(config, [...(config.metadata.finalizers ?? []), FINALIZER]);

    const parsed = parseSpec(config.spec);
    const generation = config.metadata.generation ?? 0;
    const now = new Date().toISOString();
    if (!parsed.ok) {
      return this.writeStatus(config, computeStatus({ generation, previous: config.status, now, invalidSpec: parsed.errors }), parsed.errors.join('; '));
    }
    const valid: SsmAgentConfig = { ...config, spec: parsed.spec };
    const validConfigs = this.caches.configs().flatMap((c) => {
      const p = parseSpec(c.spec);
      return p.ok ? [{ ...c, spec: p.spec }] : [];
    });
    const conflict = findConflict(valid, validConfigs, this.caches.nodes());
    // A conflicted config owns nothing: its node agents would fight the older config's on the shared nodes.
    const desired = conflict ? [] : buildDesiredObjects({ config: valid, context: this.context });
    let applyError: string | undefined;
    let daemonSet: DaemonSetObservation | undefined;
    try {
      const existing = this.caches.owned(name);
      // A pass caused by something else (a fleet report, a status change) finds everything as last applied:
      // nothing is sent. Any change to what we own shows as a new resourceVersion and is applied (drift).
      const unchanged = this.lastApplied.get(name) === applyFingerprint(desired, existing);
      const result = unchanged ? { applied: existing, pruned: [] } : await applyAndPrune(this.client, desired, existing);
      if (!unchanged) this.lastApplied.set(name, applyFingerprint(desired, result.applied));
      daemonSet = result.applied.find((o) => o.kind === 'DaemonSet') as DaemonSetObservation | undefined;
      if (result.pruned.length > 0) this.log.info({ config: name, pruned: result.pruned }, 'pruned objects no longer desired');
      const hadDaemonSet = existing.some((o) => o.kind === 'DaemonSet');
      if (daemonSet && !hadDaemonSet) {
        await this.events.record(config, { type: 'Normal', reason: 'DaemonSetApplied', message: `Applied DaemonSet ${this.context.namespace}/${nodeAgentName(name)}.` });
      }
    } catch (err) {
      this.lastApplied.delete(name);
      applyError = errorMessage(err);
    }
    const fleetEntries = this.caches.fleet?.(name);
    const fleet = fleetEntries && !conflict ? aggregateFleet(fleetEntries, new Set(coveredNodeNames(valid.spec, this.caches.nodes()))) : undefined;
    let status = computeStatus({ generation, previous: config.status, now, conflict, applyError, daemonSet, fleet });
    // The SSM loop's last outcome (activation, online count); until it has one, what is stored stays.
    const aws = this.aws?.outcome(name);
    if (aws?.activation) status = withActivationStatus(status, aws.activation, now, generation);
    if (aws?.online !== undefined && status.nodes) status = { ...status, nodes: { ...status.nodes, online: aws.online } };
    return this.writeStatus(config, status, applyError);
  }

  private async writeStatus(config: SsmAgentConfig, status: SsmAgentConfigStatus, error: string | undefined): Promise<ReconcileResult> {
    const name = config.metadata.name;
    this.recordMetrics(name, status);
    if (!statusEqual(config.status, status)) {
      await this.client.request('PATCH', resourcePath(RESOURCES.ssmAgentConfig, { name, subresource: 'status' }), {
        query: { fieldManager: FIELD_MANAGER, force: true },
        contentType: 'application/apply-patch+yaml',
        body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, status },
      });
      for (const event of transitionEvents(config.status, status)) await this.events.record(config, event);
    }
    return error ? { error } : {};
  }

  private async finalize(config: SsmAgentConfig): Promise<ReconcileResult> {
    const name = config.metadata.name;
    if (!config.metadata.finalizers?.includes(FINALIZER)) return {};
    if (config.spec.deletionPolicy === 'Uninstall') {
      // Uninstalling needs the node agent's uninstall step and the fleet channel to confirm it (not built yet):
      // say so plainly rather than pretend.
      await this.events.record(config, {
        type: 'Warning',
        reason: 'UninstallNotAvailable',
        message: 'deletionPolicy Uninstall: the managed instances are deregistered, but removing the agent from the hosts is not implemented yet; it stays installed.',
      });
    }
    const awsError = await this.aws?.finalize(config);
    if (awsError) return { error: awsError };
    const owned = this.caches.owned(name);
    for (const object of owned) await deleteObject(this.client, object);
    this.log.info({ config: name, deleted: owned.map(objectRef), policy: config.spec.deletionPolicy }, 'config deleted; owned objects removed');
    try {
      await this.setFinalizers(config, (config.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    } catch (err) {
      // Gone already: an earlier pass removed the finalizer and the cache had not caught up yet.
      if (!isNotFound(err)) throw err;
    }
    this.forgetMetrics(name);
    return {};
  }

  private async setFinalizers(config: SsmAgentConfig, finalizers: string[]): Promise<void> {
    // A JSON merge patch guarded by resourceVersion: a concurrent change makes it fail and the key is retried.
    await this.client.request('PATCH', resourcePath(RESOURCES.ssmAgentConfig, { name: config.metadata.name }), {
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers, resourceVersion: config.metadata.resourceVersion } },
    });
  }

  private recordMetrics(name: string, status: SsmAgentConfigStatus): void {
    for (const [state, value] of Object.entries(status.nodes ?? {})) this.metrics.nodes.set({ config: name, state }, value);
    const activation = status.activation;
    if (activation?.expiresAt) this.metrics.activationExpiry.set({ config: name }, Date.parse(activation.expiresAt) / 1000);
    if (activation?.registrationsUsed !== undefined) this.metrics.activationRegistrationsUsed.set({ config: name }, activation.registrationsUsed);
    if (activation?.registrationLimit !== undefined) this.metrics.activationRegistrationsLimit.set({ config: name }, activation.registrationLimit);
    for (const c of status.conditions ?? []) {
      for (const s of ['True', 'False', 'Unknown']) this.metrics.configConditions.set({ config: name, type: c.type, status: s }, c.status === s ? 1 : 0);
    }
  }

  private forgetMetrics(name: string): void {
    this.lastApplied.delete(name);
    this.metrics.nodes.remove({ config: name });
    this.metrics.activationExpiry.remove({ config: name });
    this.metrics.activationRegistrationsUsed.remove({ config: name });
    this.metrics.activationRegistrationsLimit.remove({ config: name });
    this.metrics.configConditions.remove({ config: name });
  }
}
