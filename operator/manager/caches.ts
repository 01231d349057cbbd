// The operator's informer caches (configs, Nodes, owned objects, node-agent pods, referenced Secrets and
// ConfigMaps) and the read-only views the reconcilers take of them. Events go to the handlers given: which keys
// they enqueue is the manager's wiring (event-routing.ts, predicates).
import type { Logger } from 'pino';
import type { ControllerCaches } from '../controllers/ssmagentconfig-controller.ts';
import { validateConfig, type ValidatedConfig } from '../controllers/validated-config.ts';
import type { NodeObject } from '../controllers/node-selection.ts';
import type { PodObservation } from '../controllers/rollout.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { Informer, type InformerEvent } from '../kube/informer.ts';
import { RESOURCES, resourcePath, type Resource } from '../kube/resources.ts';
import { ALL_OWNED_SELECTOR, LABEL_CONFIG, podSelectorLabels } from '../manifests/names.ts';
import type { NodeAgentDefaults } from '../manifests/node-agent-defaults.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { digestOnly, trimNode, trimPod, withoutManagedFields, type InputObject } from './event-routing.ts';

// Every owned kind is namespaced: the operator needs no cluster-wide write but Node annotations (chart RBAC).
export const OWNED_KINDS: Resource[] = [RESOURCES.serviceAccount, RESOURCES.configMap, RESOURCES.daemonSet];

export type ConfigObject = ValidatedConfig & KubeObject;
export type NodeCacheObject = NodeObject & KubeObject;
export type PodCacheObject = PodObservation & KubeObject;

export interface CacheHandlers {
  config(e: InformerEvent<ConfigObject>): void;
  node(e: InformerEvent<NodeCacheObject>): void;
  owned(kind: Resource, e: InformerEvent<KubeObject>): void;
  pod(e: InformerEvent<PodCacheObject>): void;
  input(kind: 'Secret' | 'ConfigMap', e: InformerEvent<KubeObject>): void;
}

export interface Caches {
  configs: Informer<ConfigObject>;
  nodes: Informer<NodeCacheObject>;
  start(): void;
  stop(): Promise<void>;
  synced(): boolean;
  /** what the SsmAgentConfig reconciler reads */
  view(fleet?: ControllerCaches['fleet'], fleetWarmingMs?: ControllerCaches['fleetWarmingMs']): ControllerCaches;
}

export function createCaches(opts: {
  client: KubeClient;
  namespace: string;
  log: Logger;
  metrics: OperatorMetrics;
  /** the cluster admin's defaults for every config's node agents (settings NODE_AGENT_*), applied as configs are validated */
  nodeAgentDefaults?: NodeAgentDefaults;
  on: CacheHandlers;
}): Caches {
  const { client, namespace, log, metrics, on } = opts;
  const informers: Informer<KubeObject>[] = [];
  const informerFor = <T extends KubeObject>(name: string, resource: Resource, onEvent: (e: InformerEvent<T>) => void, extra: { namespace?: string; labelSelector?: string; transform?: (o: T) => T } = {}) => {
    const informer = new Informer<T>({
      name,
      client,
      path: resourcePath(resource, { namespace: extra.namespace }),
      labelSelector: extra.labelSelector,
      transform: extra.transform,
      log,
      onEvent,
      onError: () => metrics.informerRestarts.inc({ informer: name }),
    });
    informers.push(informer as unknown as Informer<KubeObject>);
    return informer;
  };

  // A config's spec is parsed once, here, as it enters the cache; every loop reads the verdict.
  const configs = informerFor<ConfigObject>('ssmagentconfigs', RESOURCES.ssmAgentConfig, (e) => on.config(e), {
    transform: (o) => validateConfig(withoutManagedFields(o), opts.nodeAgentDefaults),
  });
  // Nodes are cached with only what node selection needs; status is most of a Node's bytes.
  const nodes = informerFor<NodeCacheObject>('nodes', RESOURCES.node, (e) => on.node(e), { transform: trimNode });
  const owned = OWNED_KINDS.map(
    (r) => [r, informerFor<KubeObject>(r.plural, r, (e) => on.owned(r, e), { namespace: r.namespaced ? namespace : undefined, labelSelector: ALL_OWNED_SELECTOR, transform: withoutManagedFields })] as const,
  );
  // The node-agent pods: which revision each node runs and whether its host converged (readiness).
  const pods = informerFor<PodCacheObject>('pods', RESOURCES.pod, (e) => on.pod(e), { namespace, labelSelector: ALL_OWNED_SELECTOR, transform: trimPod });
  // Secrets and ConfigMaps a config references count in its revision: cached as digests only.
  const inputs = new Map(
    (['Secret', 'ConfigMap'] as const).map((kind) => {
      const resource = kind === 'Secret' ? RESOURCES.secret : RESOURCES.configMap;
      return [kind, informerFor<KubeObject>(`referenced-${resource.plural}`, resource, (e) => on.input(kind, e), { namespace, transform: digestOnly })] as const;
    }),
  );

  return {
    configs,
    nodes,
    start: () => informers.forEach((i) => i.start()),
    stop: async () => {
      await Promise.all(informers.map((i) => i.stop()));
    },
    synced: () => informers.every((i) => i.hasSynced()),
    view: (fleet, fleetWarmingMs) => ({
      configs: () => configs.list(),
      config: (name) => configs.get(name),
      nodes: () => nodes.list(),
      owned: (name) =>
        owned.flatMap(([r, inf]) => {
          const apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
          return inf
            .list()
            .filter((o) => o.metadata?.labels?.[LABEL_CONFIG] === name)
            .map((o) => ({ ...o, apiVersion, kind: r.kind }));
        }),
      ...(fleet ? { fleet } : {}),
      ...(fleetWarmingMs ? { fleetWarmingMs } : {}),
      inputDigest: (ref) => (inputs.get(ref.kind)?.get(ref.name, namespace) as InputObject | undefined)?.digest ?? 'absent',
      pods: (name) => {
        const selector = Object.entries(podSelectorLabels(name));
        return pods.list().filter((p) => selector.every(([k, v]) => p.metadata?.labels?.[k] === v));
      },
    }),
  };
}
