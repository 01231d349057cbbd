// Wires the operator together: the informer caches feed two controllers of the one runtime
// (runtime/controller.ts), the SsmAgentConfig controller and the SSM sync, through the event routing and its
// predicates; the fleet channel and the caches are runnables too, and all of it runs only while this replica holds
// the leader lease (runtime/manager.ts).
import type { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import type { KubeAccess } from '../kube/access.ts';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { NODE_ANNOTATION_INSTANCE_ID } from '../api/group.ts';
import { ssmApiPerRegion } from '../aws/per-region.ts';
import { registerSsmApiMetrics } from '../aws/ssm-metrics.ts';
import { resolveClusterName } from '../cluster/identity.ts';
import { EventRecorder } from '../controllers/event-recorder.ts';
import { SsmAgentConfigController } from '../controllers/ssmagentconfig-controller.ts';
import { SSM_SYNC_CONTROLLER, ssmSyncQueueOptions, SsmSyncReconciler } from '../controllers/ssm-sync/reconciler.ts';
import { KubeClient } from '../kube/client.ts';
import { ensureOwnedBy, installationOwner } from '../kube/installation-owner.ts';
import { LeaderElector } from '../kube/leader-election.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { BuildContext } from '../manifests/context.ts';
import { startHttpServer } from '../lib/http-server.ts';
import { createOperatorMetrics, type OperatorMetrics } from '../observability/metrics.ts';
import { Controller } from '../runtime/controller.ts';
import { runUnderLease, type Runnable } from '../runtime/manager.ts';
import { WriteEchoes } from '../runtime/predicates.ts';
import { sleep } from '../lib/sleep.ts';
import type { OperatorSettings } from '../settings.ts';
import { LatestVersions } from '../versions/latest-versions.ts';
import { undiciTextFetcher } from '../versions/text-fetcher.ts';
import { createCaches } from './caches.ts';
import {
  configsReferencing,
  inputEventMatters,
  keysForConfigEvent,
  keysForOwnedEvent,
  nodeEventMatters,
  ownedEventWake,
  podEventMatters,
  ssmSyncConfigEventMatters,
  type KeysToQueue,
  type Wake,
} from './event-routing.ts';
import { fleetRunnable, fleetStatusStore } from './fleet-runnable.ts';
import { latestInputs } from './latest-inputs.ts';
import { errorMessage } from '../kube/informer.ts';

/** Status churn (DaemonSet counts, pods of a rollout) comes in bursts: one pass per burst, this long after its start. */
const STATUS_CHURN_COALESCE_MS = 500;

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
  let leading = !settings.leaderElection;
  const echoes = new WriteEchoes();

  // The routing: which controller each event wakes, and which events wake nobody (event-routing.ts).
  const enqueue = (keys: KeysToQueue, cause: string, wake: Wake = 'now') => {
    if (wake === 'never') return;
    const names = keys === 'all' ? caches.configs.list().map((c) => c.metadata.name) : keys;
    if (names.length > 0) log.debug({ cause, keys: names, wake }, 'enqueue');
    for (const name of names) {
      if (wake === 'soon') configs.enqueueAfter(name, STATUS_CHURN_COALESCE_MS);
      else configs.enqueue(name);
    }
  };
  const ownedWake = new Map<string, ReturnType<typeof ownedEventWake>>();
  const caches = createCaches({
    client,
    namespace: settings.namespace,
    nodeAgentDefaults: settings.nodeAgentDefaults,
    log,
    metrics,
    on: {
      config: (e) => {
        enqueue(keysForConfigEvent(e), `ssmagentconfig ${e.type}`);
        if (e.type === 'add' || e.type === 'delete') configs.enqueue(e.object.metadata.name);
        if (ssmSyncConfigEventMatters(e)) ssmSync.enqueue(e.object.metadata.name);
      },
      node: (e) => {
        if (e.type === 'delete' && e.object.metadata?.name) {
          const name = e.object.metadata.name;
          // What the Node said its instance was, before its report is forgotten: an instance not yet tagged with its
          // node would otherwise be orphaned. The next SSM pass of each config deregisters it if it is theirs.
          const entry = store.get(name);
          const reportedId = entry?.state.observation?.instanceId;
          // nodeadm deregisters its own hybrid nodes (`nodeadm uninstall`); their instance is never ours to remove.
          const nodeadm = entry?.state.facts?.externallyManaged === 'nodeadm' || e.object.metadata.labels?.['eks.amazonaws.com/hybrid-credential-provider'] === 'ssm';
          if (!nodeadm && ssm.nodeDeleted(name, e.object.metadata.annotations?.[NODE_ANNOTATION_INSTANCE_ID] ?? reportedId)) {
            for (const c of caches.configs.list()) ssmSync.enqueue(c.metadata.name);
          }
          store.forget(name);
        }
        if (nodeEventMatters(e)) enqueue('all', `node ${e.type}`);
      },
      owned: (r, e) => {
        let wake = ownedWake.get(r.kind);
        if (!wake) ownedWake.set(r.kind, (wake = ownedEventWake(r.kind, echoes)));
        const keys = keysForOwnedEvent(e);
        enqueue(keys, `${r.kind} ${e.type}`, wake(e, (later) => enqueue(keys, `${r.kind} ${e.type} (after our write)`, later)));
      },
      pod: (e) => enqueue(keysForOwnedEvent(e), `Pod ${e.type}`, podEventMatters(e) ? 'soon' : 'never'),
      input: (kind, e) => {
        if (inputEventMatters(e)) enqueue(configsReferencing(caches.configs.list(), kind, e.object.metadata?.name), `${kind} ${e.type}`);
      },
    },
  });
  const store = fleetStatusStore((config, delayMs) => configs.enqueueAfter(config, delayMs));
  const fleetOf = settings.fleetPort > 0 ? (name: string) => store.forConfig(name) : undefined;

  const events = new EventRecorder(client, log, 'ssm-agent-operator', settings.identity);
  // The Systems Manager side: its own controller, one config at a time so SSM sees a gentle rate.
  const ssmApis = ssmApiPerRegion({
    ...(settings.ssmEndpoint ? { endpoint: settings.ssmEndpoint } : {}),
    // adaptive: the client slows its own rate when SSM throttles, instead of only retrying
    retryMode: 'adaptive',
    proxy: settings.awsProxy,
    ...(settings.awsCaBundleFile ? { caBundle: readCaBundle(settings.awsCaBundleFile) } : {}),
    requestsCounter: registerSsmApiMetrics(metrics.registry),
  });
  const ssm = new SsmSyncReconciler({
    client,
    namespace: settings.namespace,
    clusterName,
    log,
    ssmFor: ssmApis.ssmFor,
    config: (name) => caches.configs.get(name),
    nodeNames: () => caches.nodes.list().flatMap((n) => (n.metadata?.name ? [n.metadata.name] : [])),
    ...(fleetOf ? { fleet: fleetOf } : {}),
    onChange: (name) => configs.enqueue(name),
    onEvent: (name, event) => {
      const config = caches.configs.get(name);
      if (config) void events.record(config, event);
    },
    onDeregistered: (name, reason) => metrics.instancesDeregistered.inc({ config: name, reason }),
    intervalMs: settings.ssmSyncIntervalMs,
  });
  const ssmSync = new Controller({
    name: SSM_SYNC_CONTROLLER,
    reconciler: ssm,
    workers: 1,
    log,
    metrics,
    queue: ssmSyncQueueOptions(settings.ssmSyncIntervalMs),
    failureMessage: 'SSM sync failed; retrying with backoff',
  });

  // fleetEndpoint is filled in once the fleet server runs, before any reconcile.
  const context: BuildContext = { namespace: settings.namespace, nodeAgentImage: settings.nodeAgentImage };
  const latestVersions = new LatestVersions({
    fetchText: undiciTextFetcher,
    intervalMs: settings.latestVersionIntervalMs,
    onChange: (name) => configs.enqueue(name),
    onError: (name, message) => log.warn({ config: name, err: message }, 'cannot resolve "latest"'),
  });
  const configs = new Controller({
    name: SsmAgentConfigController.NAME,
    reconciler: new SsmAgentConfigController({ latest: { versions: latestVersions, ...latestInputs(client, settings.namespace) }, client, log, events, metrics, context, aws: ssm, echoes, caches: caches.view(fleetOf, fleetOf ? () => store.warmingMs() : undefined) }),
    workers: settings.workers,
    log,
    metrics,
  });

  const server = await startHttpServer({
    port: settings.httpPort,
    registry: metrics.registry,
    // A standby replica is ready: it is healthy and waits for the lease.
    ready: () => (!leading ? { ok: true, detail: 'standby' } : caches.synced() ? { ok: true, detail: 'ok' } : { ok: false, detail: 'caches not synced' }),
  });

  let resync: NodeJS.Timeout | undefined;
  const runnables: Runnable[] = [
    {
      name: 'leadership',
      async start() {
        leading = true;
        if (!settings.leaderElection) return;
        metrics.leader.set(1);
        // The Lease is ours, not the release's: tie it to the operator Service so that helm uninstall removes it.
        // The owner learned before campaigning; a Lease made by an older version may still lack it.
        const owner = leaseOwner;
        if (owner) await ensureOwnedBy(client, RESOURCES.lease, { namespace: settings.namespace, name: settings.leaseName }, owner, log);
      },
      stop() {
        metrics.leader.set(0);
      },
    },
    {
      name: 'caches',
      // No reconcile before every cache is complete: a conflict check over half the nodes could let two configs
      // put agents on one node.
      async start(signal) {
        caches.start();
        while (!caches.synced() && !signal.aborted) await sleep(50, signal);
      },
      stop: () => caches.stop(),
    },
    fleetRunnable({ settings, client, log, registry: metrics.registry, store, nodes: caches.nodes, context }),
    {
      name: SSM_SYNC_CONTROLLER,
      start() {
        for (const c of caches.configs.list()) ssmSync.enqueue(c.metadata.name);
        ssmSync.start();
      },
      async stop() {
        await ssmSync.stop();
        ssmApis.destroy();
      },
    },
    {
      name: SsmAgentConfigController.NAME,
      start() {
        configs.start();
        resync = setInterval(() => enqueue('all', 'resync'), settings.resyncMs);
        resync.unref();
        log.info({ namespace: settings.namespace, workers: settings.workers }, 'operator started');
      },
      async stop() {
        clearInterval(resync);
        await configs.stop();
      },
    },
  ];

  // The owner is learned before campaigning: a Lease this replica creates is then owned from its creation.
  const leaseOwner = settings.leaderElection ? await installationOwner(client, settings.namespace, settings.serviceName) : undefined;
  const lease = settings.leaderElection
    ? new LeaderElector({
        ...(leaseOwner ? { owner: leaseOwner } : {}),
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
  if (lease) log.info({ identity: settings.identity, lease: settings.leaseName }, 'waiting for the leader lease');
  const done = runUnderLease({ ...(lease ? { lease } : {}), runnables, signal: abort.signal }).finally(() => {
    leading = false;
  });
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
