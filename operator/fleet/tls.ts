// The fleet channel's TLS material in the cluster: the Secret with the CA and the serving certificate (created
// when missing, reused while valid, renewed when less than 30 days are left or the Service's names changed) and
// the ConfigMap with the CA that node agents mount. Every replica may run this at once: creates and updates are
// conditional (409 → read again), so they all end up with the same certificates.
import type { Logger } from 'pino';
import { isConflict, isNotFound, KubeApiError, type KubeClient } from '../kube/client.ts';
import {
  buildFleetCaConfigMap,
  buildFleetTlsSecret,
  fleetCertificatesFromSecret,
  fleetServingIdentity,
  renewFleetCertificates,
  type FleetCaConfigMap,
  type FleetCertificates,
  type FleetTlsSecret,
  type ServingIdentityInput,
} from './certificates.ts';
import { FLEET_CA_KEY } from '../api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP, FLEET_TLS_SECRET } from '../manifests/names.ts';
import { RESOURCES, resourcePath } from '../kube/resources.ts';

export interface EnsureFleetTlsOptions extends ServingIdentityInput {
  now?: () => Date;
  renewBeforeDays?: number;
  log?: Logger;
}

export interface FleetTls {
  certs: FleetCertificates;
  /** What happened to the Secret: made now, kept, a new serving certificate (same CA), or a new CA and certificate. */
  secret: 'created' | 'reused' | 'reissued' | 'regenerated';
  /** What happened to the CA ConfigMap. */
  configMap: 'created' | 'unchanged' | 'updated';
  /** Why the certificates were renewed, when they were. */
  why?: string;
}

const ATTEMPTS = 5;

const secretPath = (namespace: string, name?: string) => resourcePath(RESOURCES.secret, { namespace, ...(name ? { name } : {}) });
const configMapPath = (namespace: string, name?: string) => resourcePath(RESOURCES.configMap, { namespace, ...(name ? { name } : {}) });

async function getOrUndefined<T>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.get<T>(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The TLS Secret: read, check, create or renew. Conflicts with another replica are retried from the read. */
async function ensureSecret(client: KubeClient, opts: EnsureFleetTlsOptions): Promise<Pick<FleetTls, 'certs' | 'secret' | 'why'>> {
  const identity = fleetServingIdentity(opts);
  for (let attempt = 1; ; attempt++) {
    const existing = await getOrUndefined<FleetTlsSecret>(client, secretPath(opts.namespace, FLEET_TLS_SECRET));
    const current = existing ? fleetCertificatesFromSecret(existing) : undefined;
    const { certs, check } = await renewFleetCertificates(current, identity, { now: opts.now?.(), renewBeforeDays: opts.renewBeforeDays });
    if (check.action === 'reuse') return { certs, secret: 'reused' };
    const body = buildFleetTlsSecret(opts.namespace, certs);
    try {
      if (!existing) {
        await client.request('POST', secretPath(opts.namespace), { body });
        return { certs, secret: 'created' };
      }
      // A Secret that lost its keys is renewed in place; the resourceVersion makes this a compare-and-swap. Its
      // owner (the operator Service, so that helm uninstall removes it) stays.
      body.metadata.resourceVersion = existing.metadata.resourceVersion;
      if (existing.metadata.ownerReferences) body.metadata.ownerReferences = existing.metadata.ownerReferences;
      await client.request('PUT', secretPath(opts.namespace, FLEET_TLS_SECRET), { body });
      const why = 'why' in check ? check.why : 'the Secret lacked a key';
      return { certs, secret: check.action === 'reissue' ? 'reissued' : 'regenerated', why };
    } catch (err) {
      // Another replica wrote it first (409 on update, 409 AlreadyExists on create): use theirs.
      if (!(isConflict(err) && attempt < ATTEMPTS)) throw err;
    }
  }
}

/** Writes the CA into the ConfigMap the node agents mount, when it is not already there. */
export async function ensureFleetCaConfigMap(client: KubeClient, namespace: string, caCertPem: string): Promise<FleetTls['configMap']> {
  for (let attempt = 1; ; attempt++) {
    const existing = await getOrUndefined<FleetCaConfigMap>(client, configMapPath(namespace, FLEET_CA_CONFIGMAP));
    if (existing?.data?.[FLEET_CA_KEY] === caCertPem) return 'unchanged';
    const body = buildFleetCaConfigMap(namespace, caCertPem);
    try {
      if (!existing) {
        await client.request('POST', configMapPath(namespace), { body });
        return 'created';
      }
      body.metadata.resourceVersion = existing.metadata.resourceVersion;
      if (existing.metadata.ownerReferences) body.metadata.ownerReferences = existing.metadata.ownerReferences;
      await client.request('PUT', configMapPath(namespace, FLEET_CA_CONFIGMAP), { body });
      return 'updated';
    } catch (err) {
      if (!(isConflict(err) && attempt < ATTEMPTS)) throw err;
    }
  }
}

/**
 * Makes sure the fleet CA and serving certificate exist and are good for at least 30 more days, and that the CA
 * ConfigMap carries the CA. Returns the certificates to serve with.
 */
export async function ensureFleetTls(client: KubeClient, opts: EnsureFleetTlsOptions): Promise<FleetTls> {
  const secret = await ensureSecret(client, opts);
  const configMap = await ensureFleetCaConfigMap(client, opts.namespace, secret.certs.ca.cert);
  if (secret.secret !== 'reused' || configMap !== 'unchanged') {
    opts.log?.info({ secret: secret.secret, configMap: configMap, why: secret.why, name: FLEET_TLS_SECRET }, 'fleet TLS certificates written');
  }
  return { ...secret, configMap };
}

/**
 * Runs ensureFleetTls every `intervalMs` (renewal, and picking up a renewal made by another replica) and calls
 * `onChange` with new certificates. Errors are logged and retried at the next tick.
 */
export function keepFleetTlsFresh(
  client: KubeClient,
  opts: EnsureFleetTlsOptions & { intervalMs?: number; current: FleetCertificates; onChange(certs: FleetCertificates): void },
): { stop(): void } {
  let current = opts.current;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    ensureFleetTls(client, opts)
      .then((tls) => {
        if (tls.certs.serving.cert !== current.serving.cert) {
          current = tls.certs;
          opts.onChange(tls.certs);
        }
      })
      .catch((err: unknown) => {
        const detail = err instanceof KubeApiError ? { status: err.statusCode, reason: err.reason } : {};
        opts.log?.error({ err: (err as Error).message, ...detail }, 'fleet TLS renewal check failed; retrying later');
      })
      .finally(() => {
        running = false;
      });
  }, opts.intervalMs ?? 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
