// The fleet channel inside the operator: certificates, the server, and where reports go (the store, the Nodes).
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../kube/informer.ts';
import type { KubeClient } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { FleetStore } from '../fleet/fleet-store.ts';
import { nodeMetadataPatch, type NodeMeta } from '../fleet/node-metadata.ts';
import type { NodeState } from '../api/fleet-protocol.ts';
import { FLEET_CA_CONFIGMAP, FLEET_TLS_SECRET } from '../manifests/names.ts';
import { FleetServer, type StateUpdate } from '../fleet/server.ts';
import { routeFleetToThisPod, type LeaderRoute } from '../fleet/leader-route.ts';
import { ensureFleetTls, keepFleetTlsFresh } from '../fleet/tls.ts';
import { ensureOwnedBy, installationOwner } from '../kube/installation-owner.ts';

export interface FleetWiring {
  /** host:port the node agents dial. */
  endpoint: string;
  server: FleetServer;
  /** The serving certificate, now and when it is renewed (the diagnosis endpoint serves the same one). */
  tls(): { cert: string; key: string };
  onTlsChange(listener: (tls: { cert: string; key: string }) => void): void;
  stop(): Promise<void>;
}

export async function startFleet(opts: {
  client: KubeClient;
  namespace: string;
  serviceName: string;
  port: number;
  /** Dialled instead of the ClusterIP, and put in the certificate. */
  advertiseAddress?: string;
  /** The fleet's own Service (no selector), routed to this pod (podIp) while the fleet server runs. */
  fleetServiceName?: string;
  podIp?: string;
  podName?: string;
  log: Logger;
  registry: Registry;
  store: FleetStore;
  nodeMeta: (node: string) => NodeMeta | undefined;
  /** Told every report, after the store (the diagnosis endpoint waits on it for probe answers). */
  onReport?: (node: string, state: NodeState, update: StateUpdate) => void;
}): Promise<FleetWiring> {
  const { client, namespace, serviceName, log } = opts;
  // Node agents run on the host network with the host's resolver, where Service names do not resolve: they dial
  // the ClusterIP, which the certificate therefore carries too.
  // With a fleet Service of its own, that is the one dialled (and its names go in the certificate too).
  const dialled = opts.fleetServiceName ?? serviceName;
  const service = await kube
    .get<{ spec?: { clusterIP?: string } }>(client, RESOURCES.service, { namespace, name: dialled })
    .catch((err: unknown) => {
      log.warn({ service: dialled, err: errorMessage(err) }, 'the fleet Service is not readable; node agents will dial it by name');
      return undefined;
    });
  const ip = service?.spec?.clusterIP;
  const clusterIP = ip && ip !== 'None' ? ip : undefined;
  const advertised = opts.advertiseAddress;
  const advertisedIsIp = advertised !== undefined && isIP(advertised) !== 0;
  const identity = {
    serviceName,
    namespace,
    ...(clusterIP ? { clusterIP } : {}),
    ...(advertised && advertisedIsIp ? { extraIps: [advertised] } : {}),
    ...(opts.fleetServiceName || (advertised && !advertisedIsIp)
      ? {
          extraDnsNames: [
            ...(opts.fleetServiceName ? [`${opts.fleetServiceName}.${namespace}.svc`, `${opts.fleetServiceName}.${namespace}.svc.cluster.local`] : []),
            ...(advertised && !advertisedIsIp ? [advertised] : []),
          ],
        }
      : {}),
    log,
  };
  const tls = await ensureFleetTls(client, identity);
  const owner = await installationOwner(client, namespace, serviceName);
  if (owner) {
    await ensureOwnedBy(client, RESOURCES.secret, { namespace, name: FLEET_TLS_SECRET }, owner, log);
    await ensureOwnedBy(client, RESOURCES.configMap, { namespace, name: FLEET_CA_CONFIGMAP }, owner, log);
  }
  const server = await FleetServer.start({
    client,
    namespace,
    tls: tls.certs.serving,
    port: opts.port,
    log,
    registry: opts.registry,
    onState: (node, state, update) => {
      opts.store.update(node, update.config, state);
      opts.onReport?.(node, state, update);
      const patch = nodeMetadataPatch(opts.nodeMeta(node) ?? {}, state);
      if (!patch) return;
      kube
        .mergePatch(client, RESOURCES.node, { name: node }, patch)
        .catch((err: unknown) => log.warn({ node, err: errorMessage(err) }, 'could not write the node’s SSM annotations'));
    },
    onDisconnect: (node) => opts.store.disconnect(node),
  });
  let route: LeaderRoute | undefined;
  if (opts.fleetServiceName && opts.podIp) {
    try {
      route = await routeFleetToThisPod(client, { serviceName: opts.fleetServiceName, namespace, podIp: opts.podIp, ...(opts.podName ? { podName: opts.podName } : {}), port: server.port, log });
    } catch (err) {
      await server.close();
      throw err;
    }
  }
  let serving = tls.certs.serving;
  const tlsListeners: ((tls: { cert: string; key: string }) => void)[] = [];
  const fresh = keepFleetTlsFresh(client, {
    ...identity,
    current: tls.certs,
    intervalMs: 6 * 3600_000,
    onChange: (certs) => {
      serving = certs.serving;
      server.updateTls(certs.serving);
      for (const l of tlsListeners) l(certs.serving);
    },
  });
  return {
    endpoint: `${advertised ?? clusterIP ?? `${dialled}.${namespace}.svc`}:${server.port}`,
    server,
    tls: () => serving,
    onTlsChange: (listener) => void tlsListeners.push(listener),
    async stop() {
      fresh.stop();
      // Out of the Service first, so that agents reconnecting after the close reach the next leader, not this one.
      await route?.withdraw();
      await server.close();
    },
  };
}
