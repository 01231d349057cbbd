// The fleet Service's EndpointSlice: the fleet Service has no selector, so that only the leader (the one replica
// whose fleet port is open) receives node agents; the leader writes this slice with its own pod address. A standby
// is ready (it serves /metrics and waits for the lease) but is never in the slice.
import { isIPv6 } from 'node:net';

/** kube-proxy and the EndpointSlice controller tell slices apart by this label; ours is not the controller's. */
export const FLEET_SLICE_MANAGER = 'ssmagent.io-operator';
export const FLEET_PORT_NAME = 'fleet';

export interface FleetEndpointSlice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  addressType: 'IPv4' | 'IPv6';
  ports: { name: string; port: number; protocol: 'TCP' }[];
  endpoints: { addresses: string[]; conditions: { ready: boolean }; targetRef?: { kind: 'Pod'; name: string; namespace: string } }[];
}

/** The slice naming `podIp` as the one fleet endpoint. */
export function fleetEndpointSlice(input: { serviceName: string; namespace: string; podIp: string; podName?: string; port: number }): FleetEndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: input.serviceName,
      namespace: input.namespace,
      labels: { 'kubernetes.io/service-name': input.serviceName, 'endpointslice.kubernetes.io/managed-by': FLEET_SLICE_MANAGER },
    },
    addressType: isIPv6(input.podIp) ? 'IPv6' : 'IPv4',
    ports: [{ name: FLEET_PORT_NAME, port: input.port, protocol: 'TCP' }],
    endpoints: [
      {
        addresses: [input.podIp],
        conditions: { ready: true },
        ...(input.podName ? { targetRef: { kind: 'Pod' as const, name: input.podName, namespace: input.namespace } } : {}),
      },
    ],
  };
}

/** Whether a slice read back still routes to `podIp` (a stopping leader clears only its own entry). */
export function sliceRoutesTo(slice: { endpoints?: { addresses?: string[] }[] | null } | undefined, podIp: string): boolean {
  return (slice?.endpoints ?? []).some((e) => e.addresses?.includes(podIp));
}
