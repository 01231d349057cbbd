// The fleet channel as a runnable under the lease: the leader serves it, and only the leader. Its timing is the
// point of this file: reports are coalesced per config into one status pass every few seconds, and after a
// leader change status keeps the counts the previous leader wrote until the agents had their reconnect window,
// so a failover does not show the fleet as gone. The diagnosis endpoint rides on it (same certificate, same
// reports).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { FLEET_RECONNECT_WINDOW_MS } from '../api/fleet-protocol.ts';
import { FreshProbes } from '../diagnose/fresh-probes.ts';
import { FleetStore } from '../fleet/fleet-store.ts';
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import type { BuildContext } from '../manifests/context.ts';
import type { Runnable } from '../runtime/manager.ts';
import type { OperatorSettings } from '../settings.ts';
import type { NodeCacheObject } from './caches.ts';
import { startDiagnose, type DiagnoseWiring } from './diagnose-wiring.ts';
import { startFleet, type FleetWiring } from './fleet-wiring.ts';

const FLEET_STATUS_DEBOUNCE_MS = 2_000;
/** After the agents' reconnect window, this long for their TLS handshake, TokenReview and hello under load. */
const FLEET_WARM_UP_MARGIN_MS = 10_000;

/** Fleet reports change status often: they are coalesced per config into one status write every few seconds. */
export function fleetStatusStore(enqueueAfter: (config: string, delayMs: number) => void): FleetStore {
  return new FleetStore((config) => enqueueAfter(config, FLEET_STATUS_DEBOUNCE_MS));
}

export function fleetRunnable(deps: {
  settings: OperatorSettings;
  client: KubeClient;
  log: Logger;
  registry: Registry;
  store: FleetStore;
  nodes: { get(name: string): NodeCacheObject | undefined; list(): NodeCacheObject[] };
  /** Its fleetEndpoint is filled in once the fleet server runs, before any reconcile. */
  context: BuildContext;
}): Runnable {
  const { settings, client, log, store, nodes, context } = deps;
  let fleet: FleetWiring | undefined;
  let diagnose: DiagnoseWiring | undefined;
  const fresh = new FreshProbes();
  return {
    name: 'fleet',
    async start() {
      if (settings.fleetPort <= 0) return;
      // Until the agents had their reconnect window, status keeps the counts the previous leader wrote.
      store.startWarmUp(FLEET_RECONNECT_WINDOW_MS + FLEET_WARM_UP_MARGIN_MS);
      fleet = await startFleet({
        client,
        namespace: settings.namespace,
        serviceName: settings.serviceName,
        port: settings.fleetPort,
        ...(settings.fleetAdvertiseAddress ? { advertiseAddress: settings.fleetAdvertiseAddress } : {}),
        ...(settings.fleetServiceName ? { fleetServiceName: settings.fleetServiceName } : {}),
        ...(settings.podIp ? { podIp: settings.podIp, podName: settings.identity } : {}),
        log,
        registry: deps.registry,
        store,
        nodeMeta: (node) => nodes.get(node)?.metadata,
        onReport: (node, state, update) => fresh.observe(node, state, update.sections, update.nodeAgentVersion),
      });
      context.fleetEndpoint = fleet.endpoint;
      log.info({ endpoint: fleet.endpoint }, 'fleet channel listening');
      if (settings.diagnosePort > 0) {
        const wiring = fleet;
        diagnose = await startDiagnose({
          client,
          log,
          port: settings.diagnosePort,
          fleet: wiring,
          fresh,
          store,
          nodes: () => nodes.list().flatMap((n) => (n.metadata?.name ? [{ name: n.metadata.name, meta: { labels: n.metadata.labels ?? {}, annotations: n.metadata.annotations ?? {} } }] : [])),
        }).catch((err: unknown) => {
          log.error({ err: errorMessage(err), port: settings.diagnosePort }, 'the diagnosis endpoint did not start; the operator runs without it');
          return undefined;
        });
      }
    },
    async stop() {
      await diagnose?.stop();
      diagnose = undefined;
      await fleet?.stop();
    },
  };
}
