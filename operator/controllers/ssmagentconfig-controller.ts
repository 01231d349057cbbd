// Reconciles one SsmAgentConfig: finalizer, conflicts, desired objects, one apply step, one status write.
// Reads come from informer caches, whose configs are validated as they enter (validated-config.ts); the only
// writes are the apply, the status and the finalizer.
import type { Logger } from 'pino';
import { API_VERSION, FINALIZER, GROUP, KIND } from '../api/group.ts';
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
import { isVersion } from '../api/agent-version.ts';
import { NODE_AGENT_CONFIG_FILE, parseNodeAgentConfig } from '../api/node-agent-config.ts';
import type { LatestVersions } from '../versions/latest-versions.ts';
import { latestRequest, latestSource, type ReadConfigMapKey, type ReadMirrorSecret } from '../versions/latest-request.ts';
import { guardLatest } from '../versions/latest-guard.ts';
import { LABEL_REVISION } from '../manifests/names.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { findConflict } from './conflicts.ts';
import type { EventRecorder } from './event-recorder.ts';
import { coveredNodeNames, type NodeObject } from './node-selection.ts';
import { fleetForStatus } from './fleet-aggregate.ts';
import { UNINSTALL_TIMEOUT_MS, uninstallProgress } from './uninstall-progress.ts';
import type { FleetEntry } from '../fleet/fleet-store.ts';
import { withActivationStatus } from '../activations/report.ts';
import type { SsmSide } from './ssm-sync/reconciler.ts';
import type { Reconciler, ReconcileResult } from '../runtime/controller.ts';
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

/** When the node agents were told to uninstall (the finalizer's state, kept on the object). */
export const ANNOTATION_UNINSTALL_STARTED = `${GROUP}/uninstall-started-at`;
const UNINSTALL_POLL_MS = 10_000;

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
  private readonly latest: ConstructorParameters<typeof SsmAgentConfigController>[0]['latest'];
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
    latest?: { versions: Pick<LatestVersions, 'get' | 'forget'>; readProxySecret(name: string): Promise<{ httpsProxy?: string; httpProxy?: string }>; readMirrorSecret?: ReadMirrorSecret; readConfigMapKey?: ReadConfigMapKey };
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
    const version = this.agentVersion(valid, runningVersion(existing, liveRevision));
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

  /**
   * The version the revision carries: the pin, or what `latest` resolved to. While `latest` cannot be resolved
   * the fleet stays on what it runs (`running`); with nothing running yet, the revision says `latest` and the
   * node agents look it up themselves until the operator can.
   */
  private agentVersion(config: SsmAgentConfig, running: string | undefined): { resolved?: string; status: NonNullable<SsmAgentConfigStatus['agent']>; requeueAfterMs?: number } {
    const pin = config.spec.agent.version;
    if (pin !== 'latest') return { status: { resolvedVersion: pin } };
    if (!this.latest) return { status: {} };
    const { versions, readProxySecret, readMirrorSecret, readConfigMapKey } = this.latest;
    const secret = config.spec.proxy?.secretRef?.name;
    const mirrorSecret = config.spec.agent.source?.mirrorSecretRef?.name;
    const caConfigMap = config.spec.agent.source?.caBundle?.configMap;
    const digest = (name: string | undefined, kind: 'Secret' | 'ConfigMap' = 'Secret') => (name ? this.caches.inputDigest?.({ kind, name }) : undefined);
    const source = latestSource(config, digest(secret), digest(mirrorSecret), digest(caConfigMap, 'ConfigMap'));
    const answer = versions.get(config.metadata.name, source, () => latestRequest(source, readProxySecret, readMirrorSecret, readConfigMapKey));
    // Never backwards: a latest/VERSION older than what the fleet runs leaves the fleet where it is.
    const guarded = guardLatest(answer.version, running);
    const resolved = guarded.version;
    const problem = [answer.error?.slice(0, 800), guarded.refused].filter((m): m is string => m !== undefined).join('; ');
    const message = problem ? `${problem}; ${resolved ? `the fleet stays on ${resolved}` : 'the node agents look "latest" up themselves meanwhile'}` : undefined;
    return {
      ...(resolved ? { resolved } : {}),
      status: { ...(resolved ? { resolvedVersion: resolved } : {}), ...(answer.resolvedAt ? { resolvedAt: answer.resolvedAt } : {}), ...(message ? { message } : {}) },
      requeueAfterMs: answer.nextCheckInMs,
    };
  }

  /** The digests of the Secrets and ConfigMaps this config's node agents read: they count in the revision. */
  private digests(config: SsmAgentConfig): Record<string, string> {
    return Object.fromEntries(referencedInputs(config).map((ref) => [inputKey(ref), this.caches.inputDigest?.(ref) ?? 'unknown']));
  }

  private async writeStatus(config: SsmAgentConfig, status: SsmAgentConfigStatus, error: string | undefined, extraEvents: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = []): Promise<ReconcileResult> {
    const name = config.metadata.name;
    this.recordMetrics(name, status);
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
      const waiting = await this.uninstallFromHosts(config);
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

  /**
   * deletionPolicy Uninstall: the node agents are told to remove the agent (the rendered action), and the
   * finalizer waits until every selected node confirms over the fleet channel, or the timeout passes.
   * Returns a requeue while waiting; undefined when the rest of the finalizer may run.
   */
  private async uninstallFromHosts(config: ValidatedConfig): Promise<ReconcileResult | undefined> {
    const name = config.metadata.name;
    const owned = this.caches.owned(name);
    // A config that never ran a node agent (it was Conflicted) has nothing on the hosts to remove.
    if (!owned.some((o) => o.kind === 'DaemonSet')) return undefined;
    if (!this.caches.fleet) {
      await this.events.record(config, {
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
      const podRevisions = (this.caches.pods?.(name) ?? []).flatMap((p) => podRevision(p) ?? []);
      const input: OwnedInput = { config: valid, context: this.context, action: 'Uninstall', inputs: { digests: this.digests(valid) } };
      await applyAndPrune(this.client, buildDesiredObjects(input), owned, keepRevisions(new Set(podRevisions)));
      this.lastApplied.delete(name);
      await kube.mergePatch(this.client, RESOURCES.ssmAgentConfig, { name }, { metadata: { annotations: { [ANNOTATION_UNINSTALL_STARTED]: new Date().toISOString() } } });
      await this.events.record(config, {
        type: 'Normal',
        reason: 'Uninstalling',
        message: `The node agents are removing amazon-ssm-agent from the hosts; the config goes once every node confirms (at most ${UNINSTALL_TIMEOUT_MS / 60_000} minutes).`,
      });
      return { requeueAfterMs: UNINSTALL_POLL_MS };
    }
    const selected = coveredNodeNames(valid.spec, this.caches.nodes());
    const progress = uninstallProgress(selected, this.caches.fleet(name), Date.parse(started), Date.now());
    if (!progress.done) return { requeueAfterMs: UNINSTALL_POLL_MS };
    await this.events.record(
      config,
      progress.unconfirmed.length > 0
        ? { type: 'Warning', reason: 'UninstallUnconfirmed', message: `No confirmation that the agent was removed from: ${progress.unconfirmed.slice(0, 20).join(', ')}${progress.unconfirmed.length > 20 ? ' …' : ''}. Check those hosts.` }
        : { type: 'Normal', reason: 'Uninstalled', message: `amazon-ssm-agent was removed from all ${selected.length} selected nodes.` },
    );
    return undefined;
  }

  private async setFinalizers(config: SsmAgentConfig, finalizers: string[]): Promise<void> {
    // A JSON merge patch guarded by resourceVersion: a concurrent change makes it fail and the key is retried.
    await kube.mergePatch(this.client, RESOURCES.ssmAgentConfig, { name: config.metadata.name }, { metadata: { finalizers, resourceVersion: config.metadata.resourceVersion } });
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
    this.latest?.versions.forget(name);
    this.metrics.nodes.remove({ config: name });
    this.metrics.activationExpiry.remove({ config: name });
    this.metrics.activationRegistrationsUsed.remove({ config: name });
    this.metrics.activationRegistrationsLimit.remove({ config: name });
    this.metrics.configConditions.remove({ config: name });
  }
}

/** The agent version the live revision carries (what the fleet runs or rolls out), when it is a pinned one. */
function runningVersion(owned: KubeObject[], liveRevision: string | undefined): string | undefined {
  if (!liveRevision) return undefined;
  const cm = owned.find((o) => o.kind === 'ConfigMap' && o.metadata?.labels?.[LABEL_REVISION] === liveRevision) as (KubeObject & { data?: Record<string, string> }) | undefined;
  const parsed = parseNodeAgentConfig(cm?.data?.[NODE_AGENT_CONFIG_FILE] ?? '');
  return parsed.ok && isVersion(parsed.config.agent.version) ? parsed.config.agent.version : undefined;
}
