// Routes the fleet Service to this replica while it leads: writes the Service's EndpointSlice with this pod's
// address once the fleet port is open, and on stop empties it, unless a newer leader already wrote its own.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import { errorMessage } from '../kube/informer.ts';
import { fleetEndpointSlice, sliceRoutesTo, type FleetEndpointSlice } from '../manifests/fleet-endpointslice.ts';

export interface LeaderRoute {
  /** Empties the slice when it still names this pod. Never throws. */
  withdraw(): Promise<void>;
}

/** Needs endpointslices create, and get/update on this one name (charts/…/templates/role.yaml). */
export async function routeFleetToThisPod(
  client: KubeClient,
  opts: { serviceName: string; namespace: string; podIp: string; podName?: string; port: number; log: Logger },
): Promise<LeaderRoute> {
  const desired = fleetEndpointSlice(opts);
  const key = { namespace: opts.namespace, name: opts.serviceName };
  const current = await kube.getOptional<FleetEndpointSlice>(client, RESOURCES.endpointSlice, key);
  if (current) {
    await kube.replace(client, { ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata.resourceVersion } });
  } else {
    await kube.create(client, desired);
  }
  opts.log.info({ service: opts.serviceName, podIp: opts.podIp, port: opts.port }, 'fleet Service routed to this replica');
  return {
    async withdraw() {
      try {
        const now = await kube.get<FleetEndpointSlice>(client, RESOURCES.endpointSlice, key);
        if (!sliceRoutesTo(now, opts.podIp)) return;
        await kube.replace(client, { ...now, endpoints: [] });
        opts.log.info({ service: opts.serviceName }, 'fleet Service no longer routed to this replica');
      } catch (err) {
        // The next leader writes its own address anyway.
        opts.log.warn({ service: opts.serviceName, err: errorMessage(err) }, 'could not withdraw the fleet route');
      }
    },
  };
}
