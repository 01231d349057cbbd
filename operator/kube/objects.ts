// The one way the operator reads and writes API objects: paths come from the object (apiVersion, kind, namespace,
// name) or from a resource and a name, never by hand. Desired objects are server-side applied with our field
// manager (force: a human's edit of a field we manage is drift, and drift is corrected); create and replace are
// for the few objects whose write must be conditional (first writer wins; compare-and-swap on resourceVersion).
// client.ts stays the transport (auth, TLS, errors, watch).
import { FIELD_MANAGER } from './field-manager.ts';
import { isNotFound, type KubeClient, type KubeObject, type RequestOptions } from './client.ts';
import { resourceOf, resourcePath, type Resource } from './resources.ts';

/** Which object of a resource: a name, and a namespace for namespaced ones. */
export interface ObjectKey {
  name: string;
  namespace?: string;
}

type CallOptions = Pick<RequestOptions, 'timeoutMs' | 'signal'>;

function pathOf(object: KubeObject, subresource?: string): string {
  const resource = resourceOf(object.apiVersion, object.kind);
  const { namespace, name } = object.metadata ?? {};
  return resourcePath(resource, { namespace, name, ...(subresource ? { subresource } : {}) });
}

function serverSideApply<T>(client: KubeClient, path: string, body: KubeObject): Promise<T> {
  return client.request<T>('PATCH', path, { query: { fieldManager: FIELD_MANAGER, force: true }, body, contentType: 'application/apply-patch+yaml' });
}

export function get<T>(client: KubeClient, resource: Resource, key: ObjectKey, options?: CallOptions): Promise<T> {
  return client.get<T>(resourcePath(resource, key), options);
}

/** The object, or undefined when there is none (404); every other failure throws. */
export async function getOptional<T>(client: KubeClient, resource: Resource, key: ObjectKey, options?: CallOptions): Promise<T | undefined> {
  try {
    return await get<T>(client, resource, key, options);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Server-side apply of a desired object; returns the server's answer. A `metadata.resourceVersion` in the object
 * makes it conditional: a concurrent change answers 409.
 */
export function apply<T extends KubeObject>(client: KubeClient, object: T): Promise<T> {
  return serverSideApply<T>(client, pathOf(object), object);
}

/** Server-side apply of the status subresource: `object` carries apiVersion, kind, name and the status. */
export function applyStatus<T extends KubeObject>(client: KubeClient, object: T): Promise<T> {
  return serverSideApply<T>(client, pathOf(object, 'status'), object);
}

/** Creates the object; 409 AlreadyExists when someone made it first (the caller reads theirs). */
export function create<T extends KubeObject>(client: KubeClient, object: T, options?: CallOptions): Promise<T> {
  const resource = resourceOf(object.apiVersion, object.kind);
  return client.request<T>('POST', resourcePath(resource, { namespace: object.metadata?.namespace }), { body: object, ...options });
}

/** Replaces the whole object, guarded by its `metadata.resourceVersion` (409 on a concurrent change). */
export function replace<T extends KubeObject>(client: KubeClient, object: T, options?: CallOptions): Promise<T> {
  return client.request<T>('PUT', pathOf(object), { body: object, ...options });
}

/** A JSON merge patch (metadata the operator adds to objects that are not its own: annotations, finalizers). */
export function mergePatch<T = KubeObject>(client: KubeClient, resource: Resource, key: ObjectKey, patch: unknown): Promise<T> {
  return client.request<T>('PATCH', resourcePath(resource, key), { contentType: 'application/merge-patch+json', body: patch });
}

/** Deletes the object (dependents in the background); one already gone counts as deleted. */
export async function remove(client: KubeClient, object: KubeObject): Promise<void> {
  try {
    await client.request('DELETE', pathOf(object), { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' } });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
