// REST paths of the resources the operator touches.
import { GROUP, PLURAL, VERSION } from '../api/group.ts';

export interface Resource {
  group: string; // '' for core
  version: string;
  plural: string;
  namespaced: boolean;
  kind: string;
}

export const RESOURCES = {
  ssmAgentConfig: { group: GROUP, version: VERSION, plural: PLURAL, namespaced: false, kind: 'SsmAgentConfig' },
  node: { group: '', version: 'v1', plural: 'nodes', namespaced: false, kind: 'Node' },
  namespace: { group: '', version: 'v1', plural: 'namespaces', namespaced: false, kind: 'Namespace' },
  daemonSet: { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true, kind: 'DaemonSet' },
  configMap: { group: '', version: 'v1', plural: 'configmaps', namespaced: true, kind: 'ConfigMap' },
  secret: { group: '', version: 'v1', plural: 'secrets', namespaced: true, kind: 'Secret' },
  pod: { group: '', version: 'v1', plural: 'pods', namespaced: true, kind: 'Pod' },
  serviceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true, kind: 'ServiceAccount' },
  service: { group: '', version: 'v1', plural: 'services', namespaced: true, kind: 'Service' },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true, kind: 'Lease' },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' },
  /** core/v1 Events: what `kubectl describe` shows (event-recorder.ts writes these) */
  coreEvent: { group: '', version: 'v1', plural: 'events', namespaced: true, kind: 'Event' },
  endpointSlice: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true, kind: 'EndpointSlice' },
} as const satisfies Record<string, Resource>;

export function resourcePath(r: Resource, opts: { namespace?: string; name?: string; subresource?: string } = {}): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && opts.namespace ? `/namespaces/${encodeURIComponent(opts.namespace)}` : '';
  const name = opts.name ? `/${encodeURIComponent(opts.name)}` : '';
  const sub = opts.name && opts.subresource ? `/${opts.subresource}` : '';
  return `${base}${ns}/${r.plural}${name}${sub}`;
}

/** The resource of an object built by the manifests, found by apiVersion and kind. */
export function resourceOf(apiVersion: string | undefined, kind: string | undefined): Resource {
  const found = Object.values(RESOURCES).find((r) => (r.group ? `${r.group}/${r.version}` : r.version) === apiVersion && r.kind === kind);
  if (!found) throw new Error(`no REST mapping for ${apiVersion} ${kind}`);
  return found;
}
