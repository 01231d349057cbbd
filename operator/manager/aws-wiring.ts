// The operator's SSM side, run next to the reconciler: per config, the activation step (operator/activations) and
// the managed-instance step (operator/instances), every `intervalMs` and at once when poked (a config was added or
// changed), one config at a time so SSM sees a gentle rate. Failures retry with jittered exponential backoff.
// The outcomes are kept in memory for the reconciler, which merges them into the status it writes once per pass
// (withActivationStatus, status.nodes.online): this loop never writes status itself, and calls onChange when an
// outcome changed so the config is reconciled.
import type { Logger } from 'pino';
import type { SsmAgentConfig } from '../api/types.ts';
import { parseSpec } from '../api/validate.ts';
import type { SsmApi } from '../aws/ssm-api.ts';
import { lazySsmApi } from '../aws/lazy-ssm-api.ts';
import type { SsmClientOptions } from '../aws/ssm-client.ts';
import { pendingHybridRegistrations } from '../activations/report.ts';
import { deleteManagedActivations, reconcileActivation, type ActivationOutcome } from '../activations/step.ts';
import { reconcileInstances } from '../instances/step.ts';
import { isManagedInstanceId } from '../instances/plan.ts';
import { activationHistory } from '../activations/history.ts';
import type { FleetEntry } from '../fleet/fleet-store.ts';
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import { canonicalJson } from '../manifests/config-hash.ts';
import { backoffDelay } from '../runtime/backoff.ts';

export interface AwsOutcome {
  activation?: ActivationOutcome;
  /** reported instances SSM sees Online */
  online?: number;
}

export interface AwsWiring {
  outcome(config: string): AwsOutcome | undefined;
  /** run this config's steps soon */
  poke(config: string): void;
  /** The finalizer's SSM part: a managed activation is deleted (its Secret goes with the config); with deletionPolicy
   * Uninstall every instance of the config is deregistered too. Returns an error to retry, or undefined when done. */
  finalize(config: SsmAgentConfig): Promise<string | undefined>;
  /** A Node was deleted; `instanceId` is what its ssmagent.io/managed-instance-id annotation said. Every config's
   * next pass deregisters that instance if it is the config's (see instances/plan.ts). */
  nodeDeleted(node: string, instanceId: string | undefined): void;
  stop(): Promise<void>;
}

export interface AwsWiringOptions {
  client: KubeClient;
  namespace: string;
  clusterName: string;
  log: Logger;
  /** the SSM API for a config's region (cache one per region) */
  ssmFor: (region: string) => SsmApi;
  configs: () => SsmAgentConfig[];
  /** every Node's name, from a synced cache */
  nodeNames: () => string[];
  /** what the config's node agents reported; absent when the fleet channel is off */
  fleet?: (config: string) => FleetEntry[];
  onChange: (config: string) => void;
  /** Something a person should see on the config (an Event): a deregistration, say. */
  onEvent?: (config: string, event: { type: 'Normal' | 'Warning'; reason: string; message: string }) => void;
  intervalMs?: number;
  tickMs?: number;
  now?: () => Date;
}

const DEFAULT_INTERVAL_MS = 5 * 60_000;
/** Deleted-node hints kept at most (a mass scale-down of this many nodes between two passes is far beyond normal). */
const MAX_DELETED_NODE_HINTS = 10_000;

/**
 * Systems Manager is called only for configs that need it: an activation to manage or check, or hybrid (mi-)
 * instances reported by their node agents. A fleet of EC2 instances never needs SSM permissions. Pure.
 */
export function needsSsm(config: SsmAgentConfig, entries: readonly FleetEntry[]): boolean {
  return config.spec.registration.activation !== undefined || entries.some((e) => e.state.observation?.instanceId?.startsWith('mi-'));
}

/** One SsmApi per region, made on first use with `base` (endpoint, credentials, metrics counter…). */
export function ssmApiPerRegion(base: Omit<SsmClientOptions, 'region'>): { ssmFor: (region: string) => SsmApi; destroy(): void } {
  const apis = new Map<string, SsmApi>();
  return {
    ssmFor(region) {
      let api = apis.get(region);
      if (!api) {
        api = lazySsmApi({ ...base, region });
        apis.set(region, api);
      }
      return api;
    },
    destroy() {
      for (const api of apis.values()) api.destroy();
      apis.clear();
    },
  };
}

export function startAwsWiring(opts: AwsWiringOptions): AwsWiring {
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  const outcomes = new Map<string, AwsOutcome>();
  const schedule = new Map<string, { nextAt: number; failures: number }>();
  /** deleted Nodes whose annotation named an instance, until a pass settles it (bounded, oldest dropped) */
  const deletedNodes = new Map<string, string>();
  /** ignored instances already warned about, per config (one Event each, not one per pass) */
  const warned = new Map<string, Set<string>>();
  let running: Promise<void> | undefined;
  let stopped = false;

  // Instances of nodeadm's hosts (EKS Hybrid Nodes) are nodeadm's: never tagged, counted against an activation,
  // swept or deregistered here, and not "not owned" either.
  const nodeReports = (name: string) =>
    (opts.fleet?.(name) ?? []).filter((e) => e.state.facts?.externallyManaged !== 'nodeadm').map((e) => ({ node: e.node, ...(e.state.observation?.instanceId ? { instanceId: e.state.observation.instanceId } : {}) }));

  async function runConfig(config: SsmAgentConfig): Promise<string[]> {
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
      ssm,
      cluster: opts.clusterName,
      config: name,
      nodes: nodeReports(name),
      existingNodes: new Set(opts.nodeNames()),
      ownActivations: new Set(activation.activationIds),
      deletedNodes: new Map(deletedNodes),
      deregisterOnNodeDelete: config.spec.registration.deregisterOnNodeDelete,
      uninstall: false,
    });
    errors.push(...instances.errors);
    for (const id of instances.settledHints) for (const [node, hinted] of deletedNodes) if (hinted === id) deletedNodes.delete(node);
    for (const i of instances.ignored) {
      const key = `${i.node}/${i.id}/${i.reason}`;
      if (warned.get(name)?.has(key)) continue;
      warned.set(name, new Set([...(warned.get(name) ?? []), key]));
      opts.log.warn({ config: name, instanceId: i.id, node: i.node, reason: i.reason }, i.message);
      opts.onEvent?.(name, { type: 'Warning', reason: 'InstanceNotOwned', message: `${i.message}.` });
    }
    for (const d of instances.deregistered) {
      opts.log.info({ config: name, instanceId: d.id, node: d.node, reason: d.reason }, 'deregistered managed instance');
      opts.onEvent?.(name, { type: 'Normal', reason: 'InstanceDeregistered', message: `Deregistered managed instance ${d.id}: ${d.message} (${d.reason}).` });
    }
    if (instances.tagged.length > 0) opts.log.info({ config: name, instanceIds: instances.tagged }, 'tagged managed instances');
    const next: AwsOutcome = {
      ...(activation.action !== 'none' || activation.condition ? { activation } : {}),
      ...(instances.online !== undefined ? { online: instances.online } : (outcomes.get(name)?.online !== undefined ? { online: outcomes.get(name)?.online } : {})),
    };
    const before = outcomes.get(name);
    outcomes.set(name, next);
    const visible = (o: AwsOutcome | undefined) => canonicalJson({ c: o?.activation?.condition ?? null, a: o?.activation?.activation ?? null, o: o?.online ?? null });
    if (visible(before) !== visible(next)) opts.onChange(name);
    return errors;
  }

  async function pass(): Promise<void> {
    const now = Date.now();
    const live = new Set<string>();
    for (const raw of opts.configs()) {
      if (stopped) return;
      const name = raw.metadata.name;
      live.add(name);
      if (raw.metadata.deletionTimestamp) continue;
      const s = schedule.get(name) ?? { nextAt: 0, failures: 0 };
      schedule.set(name, s);
      if (s.nextAt > now) continue;
      const parsed = parseSpec(raw.spec);
      if (!parsed.ok || !needsSsm({ ...raw, spec: parsed.spec }, opts.fleet?.(name) ?? [])) {
        s.nextAt = now + intervalMs;
        continue;
      }
      let errors: string[];
      try {
        errors = await runConfig({ ...raw, spec: parsed.spec });
      } catch (err) {
        errors = [errorMessage(err)];
      }
      if (errors.length > 0) {
        s.failures++;
        s.nextAt = Date.now() + Math.min(intervalMs, backoffDelay(s.failures, 5_000, intervalMs));
        opts.log.warn({ config: name, errors, failures: s.failures }, 'SSM sync failed; retrying with backoff');
      } else {
        s.failures = 0;
        s.nextAt = Date.now() + intervalMs;
      }
    }
    for (const name of [...schedule.keys()]) {
      if (!live.has(name)) {
        schedule.delete(name);
        outcomes.delete(name);
        warned.delete(name);
      }
    }
  }

  const tick = () => {
    if (stopped || running) return;
    running = pass()
      .catch((err: unknown) => opts.log.warn({ err: errorMessage(err) }, 'SSM sync pass failed'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, opts.tickMs ?? 1_000);
  timer.unref();
  tick();

  return {
    outcome: (name) => outcomes.get(name),
    poke(name) {
      const s = schedule.get(name);
      if (s) s.nextAt = 0;
      else schedule.set(name, { nextAt: 0, failures: 0 });
    },
    async finalize(config) {
      const parsed = parseSpec(config.spec);
      if (!parsed.ok || !needsSsm({ ...config, spec: parsed.spec }, opts.fleet?.(config.metadata.name) ?? [])) return undefined;
      const ssm = opts.ssmFor(parsed.spec.region);
      const activationError = await deleteManagedActivations({ client: opts.client, ssm, namespace: opts.namespace, clusterName: opts.clusterName, config: { ...config, spec: parsed.spec } });
      if (parsed.spec.deletionPolicy !== 'Uninstall') return activationError;
      const name = config.metadata.name;
      const out = await reconcileInstances({
        ssm,
        cluster: opts.clusterName,
        config: name,
        nodes: nodeReports(name),
        existingNodes: new Set(opts.nodeNames()),
        // what the passes recorded: every activation the config used (a managed one's Secret ids among them)
        ownActivations: new Set(activationHistory(config.metadata.annotations)),
        deregisterOnNodeDelete: parsed.spec.registration.deregisterOnNodeDelete,
        uninstall: true,
      });
      for (const d of out.deregistered) {
        opts.log.info({ config: name, instanceId: d.id, node: d.node }, 'deregistered managed instance (Uninstall)');
        opts.onEvent?.(name, { type: 'Normal', reason: 'InstanceDeregistered', message: `Deregistered managed instance ${d.id}: ${d.message} (${d.reason}).` });
      }
      const errors = [...(activationError ? [activationError] : []), ...out.errors];
      return errors.length > 0 ? errors.join('; ') : undefined;
    },
    nodeDeleted(node, instanceId) {
      if (!isManagedInstanceId(instanceId)) return;
      deletedNodes.delete(node);
      deletedNodes.set(node, instanceId);
      while (deletedNodes.size > MAX_DELETED_NODE_HINTS) deletedNodes.delete(deletedNodes.keys().next().value as string);
      for (const c of opts.configs()) this.poke(c.metadata.name);
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
