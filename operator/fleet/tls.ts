// The fleet channel's TLS material in the cluster: the Secret with the CA and the serving certificate (created
// when missing, reused while valid, renewed when less than 30 days are left or the Service's names changed) and
// the ConfigMap with the CA that node agents mount. Every replica may run this at once: creates and updates are
// conditional (409 → read again), so they all end up with the same certificates. The objects are built in
// manifests/fleet-tls.ts.
import type { Logger } from 'pino';
import { isConflict, KubeApiError, type KubeClient, type KubeObject } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { fleetCertificatesFromSecret, fleetServingIdentity, renewFleetCertificates, type FleetCertificates, type ServingIdentityInput } from './certificates.ts';
import { buildFleetCaConfigMap, buildFleetTlsSecret, type FleetCaConfigMap, type FleetTlsSecret } from '../manifests/fleet-tls.ts';
import { FLEET_CA_KEY } from '../api/node-agent-config.ts';
import { FLEET_CA_CONFIGMAP, FLEET_TLS_SECRET } from '../manifests/names.ts';
import { RESOURCES } from '../kube/resources.ts';

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

/**
 * Writes `desired` where `existing` was read: a create when there was none (the first replica wins, the others get
 * 409 AlreadyExists), else a replace at the version read (a compare-and-swap: the chart grants `update` on these two
 * names only). The owner that installation-owner.ts added (the operator Service, so that helm uninstall removes
 * them) stays.
 */
async function writeConditionally<T extends FleetTlsSecret | FleetCaConfigMap>(client: KubeClient, desired: T, existing: KubeObject | undefined): Promise<void> {
  if (!existing) {
    await kube.create(client, desired);
    return;
  }
  const { resourceVersion, ownerReferences } = existing.metadata ?? {};
  await kube.replace(client, { ...desired, metadata: { ...desired.metadata, resourceVersion, ...(ownerReferences ? { ownerReferences } : {}) } });
}

/** The TLS Secret: read, check, create or renew. Conflicts with another replica are retried from the read. */
async function ensureSecret(client: KubeClient, opts: EnsureFleetTlsOptions): Promise<Pick<FleetTls, 'certs' | 'secret' | 'why'>> {
  const identity = fleetServingIdentity(opts);
  for (let attempt = 1; ; attempt++) {
    const existing = await kube.getOptional<FleetTlsSecret & KubeObject>(client, RESOURCES.secret, { namespace: opts.namespace, name: FLEET_TLS_SECRET });
    const current = existing ? fleetCertificatesFromSecret(existing) : undefined;
    const { certs, check } = await renewFleetCertificates(current, identity, { now: opts.now?.(), renewBeforeDays: opts.renewBeforeDays });
    if (check.action === 'reuse') return { certs, secret: 'reused' };
    try {
      // A Secret that lost its keys is renewed in place.
      await writeConditionally(client, buildFleetTlsSecret(opts.namespace, certs), existing);
      if (!existing) return { certs, secret: 'created' };
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
    const existing = await kube.getOptional<FleetCaConfigMap & KubeObject>(client, RESOURCES.configMap, { namespace, name: FLEET_CA_CONFIGMAP });
    if (existing?.data?.[FLEET_CA_KEY] === caCertPem) return 'unchanged';
    try {
      await writeConditionally(client, buildFleetCaConfigMap(namespace, caCertPem), existing);
      return existing ? 'updated' : 'created';
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
