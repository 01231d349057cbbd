// Wires the operator together: informers feed a work queue, workers run the reconciler, and all of it runs
// only while this replica holds the leader lease.
import type { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import type { KubeAccess } from '../kube/access.ts';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { SsmAgentConfig } from '../api/types.ts';
import { EventRecorder } from '../controllers/event-recorder.ts';
import type { NodeObject } from '../controllers/node-selection.ts';
import { SsmAgentConfigController } from '../controllers/ssmagentconfig-controller.ts';
import { KubeClient, type KubeObject } from '../kube/client.ts';
import { errorMessage, Informer, type InformerEvent } from '../kube/informer.ts';
import { ensureOwnedBy, installationOwner } from '../kube/installation-owner.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { RESOURCES, resourcePath, type Resource } from '../kube/resources.ts';
import { ALL_OWNED_SELECTOR, LABEL_CONFIG } from '../manifests/names.ts';
import { resolveClusterName } from '../cluster/identity.ts';
import { NODE_ANNOTATION_INSTANCE_ID } from '../api/group.ts';
import { startHttpServer } from '../observability/http-server.ts';
import { createOperatorMetrics, type OperatorMetrics } from '../observability/metrics.ts';
import type { OperatorSettings } from '../settings.ts';
import { sleep } from '../runtime/sleep.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { FleetStore } from '../fleet/fleet-store.ts';
import type { BuildContext } from '../manifests/context.ts';
import { startFleet, type FleetWiring } from './fleet-wiring.ts';
import { startDiagnose, type DiagnoseWiring } from './diagnose-wiring.ts';
import { FreshProbes } from '../diagnose/fresh-probes.ts';
import { registerSsmApiMetrics } from '../aws/ssm-metrics.ts';
import { ssmApiPerRegion, startAwsWiring, type AwsWiring } from './aws-wiring.ts';

const FLEET_STATUS_DEBOUNCE_MS = 2_000;
import { configsReferencing, digestOnly, keysForConfigEvent, keysForOwnedEvent, nodeEventMatters, trimNode, trimPod, withoutManagedFields, type InputObject, type KeysToQueue } from './event-routing.ts';
import type { PodObservation } from '../controllers/rollout.ts';
import { podSelectorLabels } from '../manifests/names.ts';
import { LatestVersions } from '../versions/latest-versions.ts';
import { undiciTextFetcher } from '../versions/text-fetcher.ts';

// Every owned kind is namespaced: the operator needs no cluster-wide write but Node annotations (chart RBAC).
const OWNED_KINDS: Resource[] = [RESOURCES.serviceAccount, RESOURCES.configMap, RESOURCES.daemonSet];

export interface Operator {
  metrics: OperatorMetrics;
  server: Server;
  /** Resolves when the operator stops: after `stop()`, or when leadership is lost ('lost-leadership'). */
  done: Promise<'stopped' | 'lost-leadership'>;
  stop(): Promise<void>;
}

/** AWS_CA_BUNDLE's PEM file, read once at start (a bad path stops the operator with the variable's name). */
function readCaBundle(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`AWS_CA_BUNDLE=${file} cannot be read (${errorMessage(err)}): mount the CA file with extraVolumes/extraVolumeMounts`);
  }
}

export async function startOperator(kc: KubeAccess | KubeConfig, settings: OperatorSettings, log: Logger): Promise<Operator> {
  const client = new KubeClient(kc);
  let clusterName: string;
  try {
    clusterName = await resolveClusterName(client, settings.clusterName);
  } catch (err) {
    client.close();
    throw err;
  }
  log.info({ clusterName }, 'cluster identity in SSM tags');
  const metrics = createOperatorMetrics();
  const abort = new AbortController();
  const queue = new WorkQueue();
  const controllerName = SsmAgentConfigController.NAME;
  let leading = !settings.leaderElection;

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

  const enqueue = (keys: KeysToQueue, cause: string) => {
    const names = keys === 'all' ? configs.list().map((c) => c.metadata.name) : keys;
    if (names.length > 0) log.debug({ cause, keys: names }, 'enqueue');
    for (const name of names) queue.add(name);
    metrics.workQueueDepth.set({ controller: controllerName }, queue.length);
  };

  const configs = informerFor<SsmAgentConfig & KubeObject>('ssmagentconfigs', RESOURCES.ssmAgentConfig, (e) => {
    enqueue(keysForConfigEvent(e), `ssmagentconfig ${e.type}`);
    if (e.type === 'add' || e.type === 'delete') queue.add(e.object.metadata.name);
    if (e.type !== 'delete') aws?.poke(e.object.metadata.name);
  }, { transform: withoutManagedFields });
  // Fleet reports change status often: they are coalesced per config into one status write every few seconds.
  const store = new FleetStore((config) => queue.addAfter(config, FLEET_STATUS_DEBOUNCE_MS));
  const nodes = informerFor<NodeObject & KubeObject>(
    'nodes',
    RESOURCES.node,
    (e) => {
      if (e.type === 'delete' && e.object.metadata?.name) {
        const name = e.object.metadata.name;
        // What the Node said its instance was, before its report is forgotten: an instance not yet tagged with its
        // node would otherwise be orphaned. The next SSM pass of each config deregisters it if it is theirs.
        const entry = store.get(name);
        const reportedId = entry?.state.observation?.instanceId;
        // nodeadm deregisters its own hybrid nodes (`nodeadm uninstall`); their instance is never ours to remove.
        const nodeadm = entry?.state.facts?.externallyManaged === 'nodeadm' || e.object.metadata.labels?.['eks.amazonaws.com/hybrid-credential-provider'] === 'ssm';
        if (!nodeadm) aws?.nodeDeleted(name, e.object.metadata.annotations?.[NODE_ANNOTATION_INSTANCE_ID] ?? reportedId);
        store.forget(name);
      }
      if (nodeEventMatters(e)) enqueue('all', `node ${e.type}`);
    },
    { transform: trimNode },
  );
  const owned = OWNED_KINDS.map((r) =>
    informerFor<KubeObject>(r.plural, r, (e) => enqueue(keysForOwnedEvent(e), `${r.kind} ${e.type}`), {
      namespace: r.namespaced ? settings.namespace : undefined,
      labelSelector: ALL_OWNED_SELECTOR,
      transform: withoutManagedFields,
    }),
  );
  const ownedKind = new Map(owned.map((inf, i) => [inf, OWNED_KINDS[i] as Resource]));
  // The node-agent pods: which revision each node runs and whether its host converged (readiness).
  const pods = informerFor<PodObservation & KubeObject>('pods', RESOURCES.pod, (e) => enqueue(keysForOwnedEvent(e), `Pod ${e.type}`), {
    namespace: settings.namespace,
    labelSelector: ALL_OWNED_SELECTOR,
    transform: trimPod,
  });
  // Secrets and ConfigMaps a config references count in its revision: cached as digests only.
  const inputs = (['Secret', 'ConfigMap'] as const).map((kind) => {
    const resource = kind === 'Secret' ? RESOURCES.secret : RESOURCES.configMap;
    const informer = informerFor<KubeObject>(`referenced-${resource.plural}`, resource, (e) => enqueue(configsReferencing(configs.list(), kind, e.object.metadata?.name), `${kind} ${e.type}`), {
      namespace: settings.namespace,
      transform: digestOnly,
    });
    return [kind, informer] as const;
  });
  const inputInformers = new Map(inputs);

  // The Systems Manager side runs while this replica leads; the controller reads its last outcome.
  let aws: AwsWiring | undefined;
  const ssmApis = ssmApiPerRegion({
    ...(settings.ssmEndpoint ? { endpoint: settings.ssmEndpoint } : {}),
    proxy: settings.awsProxy,
    ...(settings.awsCaBundleFile ? { caBundle: readCaBundle(settings.awsCaBundleFile) } : {}),
    requestsCounter: registerSsmApiMetrics(metrics.registry),
  });
  const events = new EventRecorder(client, log, 'ssm-agent-operator', settings.identity);
  // fleetEndpoint is filled in once the fleet server runs, before any reconcile.
  const context: BuildContext = { namespace: settings.namespace, nodeAgentImage: settings.nodeAgentImage, nodeAgentDefaults: settings.nodeAgentDefaults };
  const latestVersions = new LatestVersions({
    fetchText: undiciTextFetcher,
    intervalMs: settings.latestVersionIntervalMs,
    onChange: (name) => queue.add(name),
    onError: (name, message) => log.warn({ config: name, err: message }, 'cannot resolve "latest"'),
  });
  const readProxySecret = async (name: string) => {
    const secret = await client.get<{ data?: Record<string, string> }>(resourcePath(RESOURCES.secret, { namespace: settings.namespace, name }));
    const value = (key: string) => (secret.data?.[key] ? Buffer.from(secret.data[key], 'base64').toString('utf8').trim() : undefined);
    const httpsProxy = value('httpsProxy');
    const httpProxy = value('httpProxy');
    return { ...(httpsProxy ? { httpsProxy } : {}), ...(httpProxy ? { httpProxy } : {}) };
  };
  const readMirrorSecret = async (name: string) => {
    const secret = await client.get<{ data?: Record<string, string> }>(resourcePath(RESOURCES.secret, { namespace: settings.namespace, name }));
    const value = (key: string) => (secret.data?.[key] ? Buffer.from(secret.data[key], 'base64').toString('utf8') : undefined);
    const username = value('username');
    const password = value('password');
    return { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
  };
  const controller = new SsmAgentConfigController({
    latest: { versions: latestVersions, readProxySecret, readMirrorSecret },
    client,
    log,
    events,
    metrics,
    context,
    aws: { outcome: (name) => aws?.outcome(name), finalize: async (config) => aws?.finalize(config) },
    caches: {
      configs: () => configs.list(),
      config: (name) => configs.get(name),
      nodes: () => nodes.list(),
      owned: (name) =>
        owned.flatMap((inf) => {
          const r = ownedKind.get(inf) as Resource;
          const apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
          return inf
            .list()
            .filter((o) => o.metadata?.labels?.[LABEL_CONFIG] === name)
            .map((o) => ({ ...o, apiVersion, kind: r.kind }));
        }),
      ...(settings.fleetPort > 0 ? { fleet: (name: string) => store.forConfig(name) } : {}),
      inputDigest: (ref) => (inputInformers.get(ref.kind)?.get(ref.name, settings.namespace) as InputObject | undefined)?.digest ?? 'absent',
      pods: (name) => {
        const selector = Object.entries(podSelectorLabels(name));
        return pods.list().filter((p) => selector.every(([k, v]) => p.metadata?.labels?.[k] === v));
      },
    },
  });

  const synced = () => informers.every((i) => i.hasSynced());
  const server = await startHttpServer({
    port: settings.httpPort,
    registry: metrics.registry,
    // A standby replica is ready: it is healthy and waits for the lease.
    ready: () => (!leading ? { ok: true, detail: 'standby' } : synced() ? { ok: true, detail: 'ok' } : { ok: false, detail: 'caches not synced' }),
  });

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const end = metrics.reconcileDuration.startTimer({ controller: controllerName });
      let result = 'success';
      try {
        const r = await controller.reconcile(key);
        if (r.error) {
          result = 'error';
          const retryIn = queue.addRateLimited(key);
          log.warn({ config: key, err: r.error, retryInMs: retryIn }, 'reconcile failed');
        } else {
          queue.forget(key);
          if (r.requeueAfterMs) queue.addAfter(key, r.requeueAfterMs);
        }
      } catch (err) {
        result = 'error';
        const retryIn = queue.addRateLimited(key);
        log.warn({ config: key, err: errorMessage(err), retryInMs: retryIn }, 'reconcile failed');
      } finally {
        end();
        metrics.reconcileTotal.inc({ controller: controllerName, result });
        queue.done(key);
        metrics.workQueueDepth.set({ controller: controllerName }, queue.length);
      }
    }
  };

  const elector = settings.leaderElection
    ? new LeaderElector({
        client,
        namespace: settings.namespace,
        name: settings.leaseName,
        identity: settings.identity,
        log,
        leaseDurationMs: settings.leaseDurationMs,
        renewDeadlineMs: settings.renewDeadlineMs,
        retryPeriodMs: settings.retryPeriodMs,
      })
    : undefined;

  const run = async (): Promise<'stopped' | 'lost-leadership'> => {
    if (elector) {
      log.info({ identity: settings.identity, lease: settings.leaseName }, 'waiting for the leader lease');
      if (!(await elector.acquire(abort.signal))) return 'stopped';
      leading = true;
      metrics.leader.set(1);
      // The Lease is ours, not the release's: tie it to the operator Service so that helm uninstall removes it.
      const owner = await installationOwner(client, settings.namespace, settings.serviceName);
      if (owner) await ensureOwnedBy(client, resourcePath(RESOURCES.lease, { namespace: settings.namespace, name: settings.leaseName }), owner, log);
    }
    for (const i of informers) i.start();
    // No reconcile before every cache is complete: a conflict check over half the nodes could let two configs
    // put agents on one node.
    while (!synced() && !abort.signal.aborted) await sleep(50, abort.signal);
    let fleet: FleetWiring | undefined;
    let diagnose: DiagnoseWiring | undefined;
    const fresh = new FreshProbes();
    if (settings.fleetPort > 0 && !abort.signal.aborted) {
      fleet = await startFleet({
        client,
        namespace: settings.namespace,
        serviceName: settings.serviceName,
        port: settings.fleetPort,
        ...(settings.fleetAdvertiseAddress ? { advertiseAddress: settings.fleetAdvertiseAddress } : {}),
        ...(settings.fleetServiceName ? { fleetServiceName: settings.fleetServiceName } : {}),
        ...(settings.podIp ? { podIp: settings.podIp, podName: settings.identity } : {}),
        log,
        registry: metrics.registry,
        store,
        nodeMeta: (node) => nodes.get(node)?.metadata,
        onReport: (node, state, update) => fresh.observe(node, state, update.sections, update.nodeAgentVersion),
      });
      context.fleetEndpoint = fleet.endpoint;
      log.info({ endpoint: fleet.endpoint }, 'fleet channel listening');
      if (settings.diagnosePort > 0) {
        diagnose = await startDiagnose({
          client,
          log,
          port: settings.diagnosePort,
          fleet,
          fresh,
          store,
          nodes: () => nodes.list().flatMap((n) => (n.metadata?.name ? [{ name: n.metadata.name, meta: { labels: n.metadata.labels ?? {}, annotations: n.metadata.annotations ?? {} } }] : [])),
        }).catch((err: unknown) => {
          log.error({ err: errorMessage(err), port: settings.diagnosePort }, 'the diagnosis endpoint did not start; the operator runs without it');
          return undefined;
        });
      }
    }
    aws = startAwsWiring({
      client,
      namespace: settings.namespace,
      clusterName,
      log,
      ssmFor: ssmApis.ssmFor,
      configs: () => configs.list(),
      nodeNames: () => nodes.list().flatMap((n) => (n.metadata?.name ? [n.metadata.name] : [])),
      ...(settings.fleetPort > 0 ? { fleet: (name: string) => store.forConfig(name) } : {}),
      onChange: (name) => queue.add(name),
      onEvent: (name, event) => {
        const config = configs.get(name);
        if (config) void events.record(config, event);
      },
      intervalMs: settings.ssmSyncIntervalMs,
    });
    const workers = Array.from({ length: settings.workers }, () => worker());
    const resync = setInterval(() => enqueue('all', 'resync'), settings.resyncMs);
    resync.unref();
    log.info({ namespace: settings.namespace, workers: settings.workers }, 'operator started');
    let outcome: 'stopped' | 'lost-leadership' = 'stopped';
    if (elector) {
      await elector.holdUntilLost(abort.signal);
      if (!abort.signal.aborted) outcome = 'lost-leadership';
    } else {
      await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
    clearInterval(resync);
    queue.shutdown();
    await Promise.all(workers);
    await diagnose?.stop();
    await fleet?.stop();
    await aws?.stop();
    aws = undefined;
    ssmApis.destroy();
    await Promise.all(informers.map((i) => i.stop()));
    metrics.leader.set(0);
    if (outcome === 'stopped') await elector?.release();
    leading = false;
    return outcome;
  };

  const done = run();
  return {
    metrics,
    server,
    done,
    async stop() {
      abort.abort();
      await done;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      client.close();
    },
  };
}
