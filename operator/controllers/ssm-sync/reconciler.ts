// The SSM sync of one config, as a Reconciler run by the generic controller (runtime/controller.ts): the
// activation step (operator/activations) and the managed-instance step (operator/instances). Done, it looks
// again after `intervalMs`; a failure retries with the controller's backoff. The outcomes are kept in memory for
// the SsmAgentConfig reconciler, which merges them into the status it writes once per pass
// (withActivationStatus, status.nodes.online): this loop never writes status itself, and calls onChange when an
// outcome changed so the config is reconciled.
import type { Logger } from 'pino';
import type { SsmAgentConfig } from '../../api/types.ts';
import type { SsmApi } from '../../aws/ssm-api.ts';
import { pendingHybridRegistrations } from '../../activations/report.ts';
import { deleteManagedActivations, reconcileActivation, type ActivationOutcome } from '../../activations/step.ts';
import { activationHistory } from '../../activations/history.ts';
import { reconcileInstances } from '../../instances/step.ts';
import { isManagedInstanceId } from '../../instances/plan.ts';
import { InstanceTagCache } from '../../instances/tag-cache.ts';
import type { FleetEntry } from '../../fleet/fleet-store.ts';
import type { KubeClient } from '../../kube/client.ts';
import { canonicalJson } from '../../manifests/config-hash.ts';
import type { Reconciler, ReconcileResult } from '../../runtime/controller.ts';
import type { ValidatedConfig } from '../validated-config.ts';
import { errorMessage } from '../../lib/errors.ts';

export interface AwsOutcome {
  activation?: ActivationOutcome;
  /** reported instances SSM sees Online */
  online?: number;
}

/** What the SsmAgentConfig reconciler reads of the SSM side. */
export interface SsmSide {
  outcome(config: string): AwsOutcome | undefined;
  /** The finalizer's SSM part: a managed activation is deleted (its Secret goes with the config); with deletionPolicy
   * Uninstall every instance of the config is deregistered too. Returns an error to retry, or undefined when done. */
  finalize(config: ValidatedConfig): Promise<string | undefined>;
}

export interface SsmSyncOptions {
  client: KubeClient;
  namespace: string;
  clusterName: string;
  log: Logger;
  /** the SSM API for a config's region (cache one per region) */
  ssmFor: (region: string) => SsmApi;
  /** the config as the caches hold it (its spec validated once: validated-config.ts) */
  config: (name: string) => ValidatedConfig | undefined;
  /** every Node's name, from a synced cache */
  nodeNames: () => string[];
  /** what the config's node agents reported; absent when the fleet channel is off */
  fleet?: (config: string) => FleetEntry[];
  onChange: (config: string) => void;
  /** Something a person should see on the config (an Event): a deregistration, say. */
  onEvent?: (config: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }) => void;
  /** A managed instance was deregistered (for ssm_operator_instances_deregistered_total). */
  onDeregistered?: (config: string, reason: string) => void;
  intervalMs?: number;
  /** how old an unused duplicate registration must be before it is deregistered (instances/duplicates.ts) */
  duplicateGraceMs?: number;
  now?: () => Date;
}

export const SSM_SYNC_CONTROLLER = 'ssm-sync';
export const DEFAULT_SSM_SYNC_INTERVAL_MS = 5 * 60_000;
/** Deleted-node hints kept at most (a mass scale-down of this many nodes between two passes is far beyond normal). */
const MAX_DELETED_NODE_HINTS = 10_000;

/**
 * Systems Manager is called only for configs that need it: an activation to manage or check, or hybrid (mi-)
 * instances reported by their node agents. A fleet of EC2 instances never needs SSM permissions. Pure.
 */
export function needsSsm(config: SsmAgentConfig, entries: readonly FleetEntry[]): boolean {
  return config.spec.registration.activation !== undefined || entries.some((e) => e.state.observation?.instanceId?.startsWith('mi-'));
}

export class SsmSyncReconciler implements Reconciler, SsmSide {
  private readonly opts: SsmSyncOptions;
  private readonly intervalMs: number;
  private readonly outcomes = new Map<string, AwsOutcome>();
  /** deleted Nodes whose annotation named an instance, until a pass settles it (bounded, oldest dropped) */
  private readonly deletedNodes = new Map<string, string>();
  /** ignored instances already warned about, per config (one Event each, not one per pass) */
  private readonly warned = new Map<string, Set<string>>();
  /** per config: the tags of its listed instances, so a sweep lists pages instead of reading every instance */
  private readonly tags = new Map<string, InstanceTagCache>();

  constructor(opts: SsmSyncOptions) {
    this.opts = opts;
    this.intervalMs = opts.intervalMs ?? DEFAULT_SSM_SYNC_INTERVAL_MS;
  }

  outcome(name: string): AwsOutcome | undefined {
    return this.outcomes.get(name);
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const raw = this.opts.config(name);
    if (!raw) {
      this.outcomes.delete(name);
      this.warned.delete(name);
      this.tags.delete(name);
      return {};
    }
    // A config being deleted is the finalizer's (finalize below), called by the SsmAgentConfig reconciler.
    if (raw.metadata.deletionTimestamp) return {};
    const { verdict } = raw;
    if (!verdict.ok || !needsSsm(verdict.config, this.opts.fleet?.(name) ?? [])) return { requeueAfterMs: this.intervalMs };
    let errors: string[];
    try {
      errors = await this.sync(verdict.config);
    } catch (err) {
      errors = [errorMessage(err)];
    }
    return errors.length > 0 ? { error: errors.join('; ') } : { requeueAfterMs: this.intervalMs };
  }

  /** A Node was deleted; `instanceId` is what its ssmagent.io/managed-instance-id annotation said. Every config's
   * next pass deregisters that instance if it is the config's (see instances/plan.ts). Returns whether it counts. */
  nodeDeleted(node: string, instanceId: string | undefined): boolean {
    if (!isManagedInstanceId(instanceId)) return false;
    this.deletedNodes.delete(node);
    this.deletedNodes.set(node, instanceId);
    while (this.deletedNodes.size > MAX_DELETED_NODE_HINTS) this.deletedNodes.delete(this.deletedNodes.keys().next().value as string);
    return true;
  }

  async finalize(config: ValidatedConfig): Promise<string | undefined> {
    const { opts } = this;
    if (!config.verdict.ok || !needsSsm(config.verdict.config, opts.fleet?.(config.metadata.name) ?? [])) return undefined;
    const valid = config.verdict.config;
    const ssm = opts.ssmFor(valid.spec.region);
    const activationError = await deleteManagedActivations({ client: opts.client, ssm, namespace: opts.namespace, clusterName: opts.clusterName, config: valid });
    if (valid.spec.deletionPolicy !== 'Uninstall') return activationError;
    const name = config.metadata.name;
    // what the passes recorded: every activation the config used (a managed one's Secret ids among them)
    const out = await reconcileInstances({ ...this.instancesInput(ssm, valid, activationHistory(config.metadata.annotations)), uninstall: true });
    for (const d of out.deregistered) {
      opts.log.info({ config: name, instanceId: d.id, node: d.node }, 'deregistered managed instance (Uninstall)');
      opts.onDeregistered?.(name, d.reason);
      opts.onEvent?.(name, { type: 'Normal', reason: 'InstanceDeregistered', message: `Deregistered managed instance ${d.id}: ${d.message} (${d.reason}).` });
    }
    const errors = [...(activationError ? [activationError] : []), ...out.errors];
    return errors.length > 0 ? errors.join('; ') : undefined;
  }

  /** What both the sweep and the Uninstall finalizer give the instance step (a config with a valid spec). */
  private instancesInput(ssm: SsmApi, config: SsmAgentConfig, ownActivations: readonly string[]) {
    const name = config.metadata.name;
    return {
      ssm,
      cluster: this.opts.clusterName,
      config: name,
      nodes: this.nodeReports(name),
      existingNodes: new Set(this.opts.nodeNames()),
      ownActivations: new Set(ownActivations),
      deregisterOnNodeDelete: config.spec.registration.deregisterOnNodeDelete,
    };
  }

  // Instances of nodeadm's hosts (EKS Hybrid Nodes) are nodeadm's: never tagged, counted against an activation,
  // swept or deregistered here, and not "not owned" either.
  private nodeReports(name: string) {
    return (this.opts.fleet?.(name) ?? []).filter((e) => e.state.facts?.externallyManaged !== 'nodeadm').map((e) => ({ node: e.node, ...(e.state.observation?.instanceId ? { instanceId: e.state.observation.instanceId } : {}) }));
  }

  private tagCache(name: string): InstanceTagCache {
    let cache = this.tags.get(name);
    if (!cache) {
      cache = new InstanceTagCache();
      this.tags.set(name, cache);
    }
    return cache;
  }

  private async sync(config: SsmAgentConfig): Promise<string[]> {
    const { opts } = this;
    const name = config.metadata.name;
    const ssm = opts.ssmFor(config.spec.region);
    const errors: string[] = [];
    const entries = opts.fleet?.(name) ?? [];
    const activation = await reconcileActivation({
      client: opts.client,
      ssm,
      namespace: opts.namespace,
      clusterName: opts.clusterName,
      config,
      // Without the fleet channel nobody knows who registered: old activations are kept until they expire.
      agentsStillOnOld: opts.fleet ? pendingHybridRegistrations(entries) : Number.POSITIVE_INFINITY,
      ...(opts.now ? { now: opts.now } : {}),
    });
    if (activation.error) errors.push(activation.error);
    const instances = await reconcileInstances({
      ...this.instancesInput(ssm, config, activation.activationIds),
      deletedNodes: new Map(this.deletedNodes),
      uninstall: false,
      tagCache: this.tagCache(name),
      now: (opts.now ?? (() => new Date()))(),
      ...(opts.duplicateGraceMs !== undefined ? { duplicateGraceMs: opts.duplicateGraceMs } : {}),
    });
    errors.push(...instances.errors);
    for (const id of instances.settledHints) for (const [node, hinted] of this.deletedNodes) if (hinted === id) this.deletedNodes.delete(node);
    for (const i of instances.ignored) {
      const key = `${i.node}/${i.id}/${i.reason}`;
      if (this.warned.get(name)?.has(key)) continue;
      this.warned.set(name, new Set([...(this.warned.get(name) ?? []), key]));
      opts.log.warn({ config: name, instanceId: i.id, node: i.node, reason: i.reason }, i.message);
      opts.onEvent?.(name, { type: 'Warning', reason: 'InstanceNotOwned', message: `${i.message}.` });
    }
    for (const d of instances.deregistered) {
      opts.log.info({ config: name, instanceId: d.id, node: d.node, reason: d.reason }, 'deregistered managed instance');
      opts.onDeregistered?.(name, d.reason);
      opts.onEvent?.(name, { type: 'Normal', reason: 'InstanceDeregistered', message: `Deregistered managed instance ${d.id}: ${d.message} (${d.reason}).` });
    }
    if (instances.tagged.length > 0) opts.log.info({ config: name, instanceIds: instances.tagged }, 'tagged managed instances');
    const before = this.outcomes.get(name);
    const next: AwsOutcome = {
      ...(activation.action !== 'none' || activation.condition ? { activation } : {}),
      ...(instances.online !== undefined ? { online: instances.online } : before?.online !== undefined ? { online: before.online } : {}),
    };
    this.outcomes.set(name, next);
    const visible = (o: AwsOutcome | undefined) => canonicalJson({ c: o?.activation?.condition ?? null, a: o?.activation?.activation ?? null, o: o?.online ?? null });
    if (visible(before) !== visible(next)) opts.onChange(name);
    return errors;
  }
}

/** The SSM sync's retries: 5 s doubling up to the interval (the queue's overall rate limit on top). */
export function ssmSyncQueueOptions(intervalMs = DEFAULT_SSM_SYNC_INTERVAL_MS): { baseDelayMs: number; maxDelayMs: number } {
  return { baseDelayMs: Math.min(5_000, intervalMs), maxDelayMs: intervalMs };
}
