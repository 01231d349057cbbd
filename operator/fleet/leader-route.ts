// Routes the fleet Service to this replica while it leads: writes the Service's EndpointSlice with this pod's
// address once the fleet port is open, and on stop empties it, unless a newer leader already wrote its own.
import type { Logger } from 'pino';
import { isNotFound, type KubeClient } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import { fleetEndpointSlice, sliceRoutesTo, type FleetEndpointSlice } from '../manifests/fleet-endpointslice.ts';

const slicePath = (namespace: string, name?: string) => `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices${name ? `/${encodeURIComponent(name)}` : ''}`;

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
  const path = slicePath(opts.namespace, opts.serviceName);
  const current = await client.get<FleetEndpointSlice>(path).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (current) {
    await client.request('PUT', path, { body: { ...desired, metadata: { ...desired.metadata, resourceVersion: current.metadata.resourceVersion } } });
  } else {
    await client.request('POST', slicePath(opts.namespace), { body: desired });
  }
  opts.log.info({ service: opts.serviceName, podIp: opts.podIp, port: opts.port }, 'fleet Service routed to this replica');
  return {
    async withdraw() {
      try {
        const now = await client.get<FleetEndpointSlice>(path);
        if (!sliceRoutesTo(now, opts.podIp)) return;
        await client.request('PUT', path, { body: { ...now, endpoints: [] } });
        opts.log.info({ service: opts.serviceName }, 'fleet Service no longer routed to this replica');
      } catch (err) {
        // The next leader writes its own address anyway.
        opts.log.warn({ service: opts.serviceName, err: errorMessage(err) }, 'could not withdraw the fleet route');
      }
    },
  };
}
