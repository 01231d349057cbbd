// Reconciles one SsmAgentConfig: finalizer, conflicts, desired objects, one apply step, one status write.
// Reads come from informer caches, whose configs are validated as they enter (validated-config.ts); the only
// writes are the apply, the status and the finalizer. The version the revision carries (desired-agent-version.ts),
// the wait for the hosts' uninstall (host-uninstall.ts) and the per-config gauges (config-metrics.ts) are their own.
import type { Logger } from 'pino';
import { API_VERSION, FINALIZER, KIND } from '../api/group.ts';
import type { SsmAgentConfig, SsmAgentConfigStatus } from '../api/types.ts';
import { applyAndPrune, objectRef, objectsToPrune, type WriteTracker } from '../kube/apply.ts';
import { isNotFound, type KubeClient, type KubeObject } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { BuildContext } from '../manifests/context.ts';
import { buildDesiredObjects } from '../manifests/desired-objects.ts';
import { configHash } from '../manifests/config-hash.ts';
import { ANNOTATION_REVISION, nodeAgentName } from '../manifests/names.ts';
import type { OwnedInput } from '../manifests/context.ts';
import { inputKey, referencedInputs, renderRevision, type InputRef } from '../manifests/revision.ts';
import { keepRevisions, revisionOf, revisionsToKeep } from './revision-retention.ts';
import { planRollout, podRevision, rolloutEvents, type PodObservation, type RolloutPlan } from './rollout.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { findConflict } from './conflicts.ts';
import type { EventRecorder } from './event-recorder.ts';
import { coveredNodeNames, type NodeObject } from './node-selection.ts';
import { fleetForStatus } from './fleet-aggregate.ts';
import type { FleetEntry } from '../fleet/fleet-store.ts';
import { withActivationStatus } from '../activations/report.ts';
import type { SsmSide } from './ssm-sync/reconciler.ts';
import type { Reconciler, ReconcileResult } from '../runtime/controller.ts';
import { forgetConfigMetrics, recordConfigMetrics } from './config-metrics.ts';
import { desiredAgentVersion, runningVersion, type LatestResolution } from './desired-agent-version.ts';
import { uninstallFromHosts } from './host-uninstall.ts';
import { computeStatus, statusEqual, transitionEvents, type DaemonSetObservation } from './status.ts';
import type { ValidatedConfig } from './validated-config.ts';

export interface ControllerCaches {
  configs: () => ValidatedConfig[];
  config: (name: string) => ValidatedConfig | undefined;
  nodes: () => NodeObject[];
  /** Objects the operator owns for a config, across every owned kind. */
  owned: (configName: string) => KubeObject[];
  /** What the config's node agents reported over the fleet channel; absent when the channel is off. */
  fleet?: (configName: string) => FleetEntry[];
  /** How long the fleet's reports may still be incomplete after the fleet server started (agents reconnecting). */
  fleetWarmingMs?: () => number;
  /** Digest of a referenced Secret's or ConfigMap's data ('absent' when it does not exist); never the data. */
  inputDigest?: (ref: InputRef) => string;
  /** The pods of the config's DaemonSet (by its selector). */
  pods?: (configName: string) => PodObservation[];
}

type LiveDaemonSet = KubeObject & DaemonSetObservation & { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } };

/** The desired objects and the live objects' identities and versions: equal fingerprints, nothing to apply. */
export function applyFingerprint(desired: KubeObject[], live: KubeObject[]): string {
  const versions = live.map((o) => `${objectRef(o)}@${o.metadata?.resourceVersion ?? ''}`).sort();
  return configHash([desired, versions]);
}

export type { ReconcileResult } from '../runtime/controller.ts';

export class SsmAgentConfigController implements Reconciler {
  static readonly NAME = 'ssmagentconfig';
  private readonly client: KubeClient;
  private readonly caches: ControllerCaches;
  private readonly context: BuildContext;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  private readonly metrics: OperatorMetrics;
  private readonly aws: SsmSide | undefined;
  private readonly echoes: WriteTracker | undefined;
  private readonly latest: LatestResolution | undefined;
  /** Per config and object: what was last applied and the resourceVersion it left (see applyFingerprint). */
  private readonly lastApplied = new Map<string, Map<string, string>>();

  constructor(deps: {
    client: KubeClient;
    caches: ControllerCaches;
    context: BuildContext;
    log: Logger;
    events: EventRecorder;
    metrics: OperatorMetrics;
    /** The Systems Manager side (activations, managed instances); absent in tests that do not need it. */
    aws?: SsmSide;
    /** where the objects this controller writes are recorded, so their watch echoes enqueue nothing */
    echoes?: WriteTracker;
    /** Resolves `latest` for the fleet; absent: the node agents resolve it themselves. */
    latest?: LatestResolution;
  }) {
    this.client = deps.client;
    this.caches = deps.caches;
    this.context = deps.context;
    this.log = deps.log;
    this.events = deps.events;
    this.metrics = deps.metrics;
    this.aws = deps.aws;
    this.echoes = deps.echoes;
    this.latest = deps.latest;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const config = this.caches.config(name);
    if (!config) {
      this.forgetMetrics(name);
      return {};
    }
    if (config.metadata.deletionTimestamp) return this.finalize(config);
    if (!config.metadata.finalizers?.includes(FINALIZER)) await this.setFinalizers(config, [...(config.metadata.finalizers ?? []), FINALIZER]);

    const generation = config.metadata.generation ?? 0;
    const now = new Date().toISOString();
    if (!config.verdict.ok) {
      return this.writeStatus(config, computeStatus({ generation, previous: config.status, now, invalidSpec: config.verdict.errors }), config.verdict.errors.join('; '));
    }
    const valid = config.verdict.config;
    const validConfigs = this.caches.configs().flatMap((c) => (c.verdict.ok ? [c.verdict.config] : []));
    const conflict = findConflict(valid, validConfigs, this.caches.nodes());
    const existing = this.caches.owned(name);
    const liveDs = existing.find((o) => o.kind === 'DaemonSet') as LiveDaemonSet | undefined;
    const liveRevision = liveDs?.spec?.template?.metadata?.annotations?.[ANNOTATION_REVISION];
    const version = desiredAgentVersion(valid, runningVersion(existing, liveRevision), this.latest, this.caches.inputDigest);
    const input: OwnedInput = { config: valid, context: this.context, inputs: { digests: this.digests(valid), ...(version.resolved ? { resolvedVersion: version.resolved } : {}) } };
    const pods = this.caches.pods?.(name) ?? [];
    const fleetEntries = this.caches.fleet?.(name);
    // A conflicted config owns nothing: its node agents would fight the older config's on the shared nodes.
    const plan: RolloutPlan | undefined = conflict
      ? undefined
      : planRollout({
          generation,
          paused: valid.spec.rollout.paused,
          desiredRevision: renderRevision(input).revision,
          liveRevision,
          previous: config.status?.rollout,
          desiredNodes: liveDs?.status?.desiredNumberScheduled ?? 0,
          daemonSetObserved: liveDs !== undefined && (liveDs.status?.observedGeneration ?? 0) >= (liveDs.generation ?? liveDs.metadata?.generation ?? 1),
          pods,
          ...(fleetEntries ? { fleet: fleetEntries } : {}),
          maxFailedNodes: valid.spec.rollout.maxFailedNodes ?? valid.spec.daemonSet.maxUnavailable,
        });
    let desired = conflict || !plan ? [] : buildDesiredObjects(input, { halted: plan.halted });
    // Paused with a change pending: the DaemonSet stays exactly as last applied and the new revision is not made.
    const frozen = plan !== undefined && !plan.applyDaemonSet;
    if (frozen) desired = desired.filter((o) => o.kind !== 'DaemonSet' && revisionOf(o) === undefined);
    const keep = revisionsToKeep({ current: plan?.target ?? '', previous: plan?.status?.previousRevision, podRevisions: pods.flatMap((p) => podRevision(p) ?? []) });
    const keepRevision = keepRevisions(keep);
    const keepFn = (o: KubeObject) => keepRevision(o) || (frozen && o.kind === 'DaemonSet');
    let applyError: string | undefined;
    let daemonSet: DaemonSetObservation | undefined;
    try {
      // A pass caused by something else (a fleet report, a status change) finds everything as last applied:
      // nothing is sent. Any change to what we own shows as a new resourceVersion and is applied (drift), and a
      // revision no pod uses any more is pruned.
      const last = this.lastApplied.get(name);
      const live = new Map(existing.map((o) => [objectRef(o), o]));
      const same = (o: KubeObject) => {
        const current = live.get(objectRef(o));
        return current !== undefined && last?.get(objectRef(o)) === applyFingerprint([o], [current]);
      };
      const unchanged = desired.every(same) && objectsToPrune(existing, desired, keepFn).length === 0;
      // Only what changed is sent: a spec change costs its ConfigMap and DaemonSet, not every object.
      const result = unchanged ? { applied: existing, written: [], pruned: [] } : await applyAndPrune(this.client, desired, existing, keepFn, same, this.echoes);
      if (!unchanged) {
        const answered = new Map(result.applied.map((o) => [objectRef(o), o]));
        this.lastApplied.set(name, new Map(desired.map((o) => [objectRef(o), applyFingerprint([o], [answered.get(objectRef(o)) ?? o])])));
      }
      daemonSet = (result.applied.find((o) => o.kind === 'DaemonSet') ?? (frozen ? liveDs : undefined)) as DaemonSetObservation | undefined;
      if (result.pruned.length > 0) this.log.info({ config: name, pruned: result.pruned }, 'pruned objects no longer desired');
      const hadDaemonSet = existing.some((o) => o.kind === 'DaemonSet');
      if (daemonSet && !hadDaemonSet) {
        await this.events.record(config, { type: 'Normal', reason: 'DaemonSetApplied', message: `Applied DaemonSet ${this.context.namespace}/${nodeAgentName(name)}.` });
      }
    } catch (err) {
      this.lastApplied.delete(name);
      applyError = errorMessage(err);
    }
    const warmingMs = this.caches.fleetWarmingMs?.() ?? 0;
    const reports = fleetEntries && !conflict ? fleetForStatus({ entries: fleetEntries, selected: new Set(coveredNodeNames(valid.spec, this.caches.nodes())), previous: config.status, warmingMs }) : undefined;
    const fleet = reports?.fleet;
    // The SSM loop's last outcome (activation, online count); until it has one, what is stored stays.
    const aws = this.aws?.outcome(name);
    const activation = aws?.activation?.condition ?? config.status?.conditions?.find((c) => c.type === 'ActivationReady');
    let status = computeStatus({ generation, previous: config.status, now, conflict, applyError, daemonSet, fleet, agent: version.status, ...(plan ? { rollout: plan } : {}), ...(activation ? { activation } : {}) });
    if (aws?.activation) status = withActivationStatus(status, aws.activation, now, generation);
    if (aws?.online !== undefined && status.nodes) status = { ...status, nodes: { ...status.nodes, online: aws.online } };
    const events = plan ? rolloutEvents(config.status?.rollout, status.rollout, plan, status.nodes?.desired ?? 0) : [];
    const result = await this.writeStatus(config, status, applyError, events);
    // Agents still reconnecting: look again when their window has passed, whoever has not reported by then.
    const lookAgainMs = Math.min(version.requeueAfterMs ?? Infinity, reports?.incomplete ? warmingMs + 1 : Infinity);
    return !result.error && Number.isFinite(lookAgainMs) ? { ...result, requeueAfterMs: lookAgainMs } : result;
  }

  /** The digests of the Secrets and ConfigMaps this config's node agents read: they count in the revision. */
  private digests(config: SsmAgentConfig): Record<string, string> {
    return Object.fromEntries(referencedInputs(config).map((ref) => [inputKey(ref), this.caches.inputDigest?.(ref) ?? 'unknown']));
  }

  private async writeStatus(config: SsmAgentConfig, status: SsmAgentConfigStatus, error: string | undefined, extraEvents: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = []): Promise<ReconcileResult> {
    const name = config.metadata.name;
    recordConfigMetrics(this.metrics, name, status);
    if (!statusEqual(config.status, status)) {
      await kube.applyStatus(this.client, { apiVersion: API_VERSION, kind: KIND, metadata: { name }, status });
      for (const event of [...extraEvents, ...transitionEvents(config.status, status)]) await this.events.record(config, event);
    }
    return error ? { error } : {};
  }

  private async finalize(config: ValidatedConfig): Promise<ReconcileResult> {
    const name = config.metadata.name;
    if (!config.metadata.finalizers?.includes(FINALIZER)) return {};
    if (config.spec.deletionPolicy === 'Uninstall') {
      const waiting = await uninstallFromHosts(config, {
        client: this.client,
        caches: this.caches,
        context: this.context,
        events: this.events,
        digests: (c) => this.digests(c),
        forgetApplied: (n) => this.lastApplied.delete(n),
      });
      if (waiting) return waiting;
    }
    const awsError = await this.aws?.finalize(config);
    if (awsError) return { error: awsError };
    const owned = this.caches.owned(name);
    for (const object of owned) await kube.remove(this.client, object);
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
    await kube.mergePatch(this.client, RESOURCES.ssmAgentConfig, { name: config.metadata.name }, { metadata: { finalizers, resourceVersion: config.metadata.resourceVersion } });
  }

  private forgetMetrics(name: string): void {
    this.lastApplied.delete(name);
    this.latest?.versions.forget(name);
    forgetConfigMetrics(this.metrics, name);
  }
}
