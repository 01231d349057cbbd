// The certificates a probe trusts: Node's default store (its bundled Mozilla roots plus NODE_EXTRA_CA_CERTS), the
// operating system's store (/etc/ssl/certs — where a corporate CA is usually installed), and an optional extra PEM
// bundle (`caFile`). Building a SecureContext from ~300 roots costs tens of milliseconds, so contexts are cached.
import { readFile } from 'node:fs/promises';
import { createSecureContext, getCACertificates, type SecureContext } from 'node:tls';

let baseRoots: string[] | undefined;
const contexts = new Map<string, SecureContext>();
const MAX_CACHED_CONTEXTS = 8;

/** Node's default roots and the system store, deduplicated. Read once per process. */
export function baseRootCertificates(): string[] {
  if (!baseRoots) {
    let system: string[] = [];
    try {
      system = getCACertificates('system');
    } catch {
      // No readable system store: Node's bundled roots still apply.
    }
    baseRoots = [...new Set([...getCACertificates('default'), ...system])];
  }
  return baseRoots;
}

/** A SecureContext trusting the base roots plus the PEM certificates in caFile (read on every call, so updates count). */
export async function trustContext(caFile?: string): Promise<SecureContext> {
  const extra = caFile === undefined ? '' : await readFile(caFile, 'utf8');
  if (caFile !== undefined && !extra.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`${caFile} holds no PEM certificate`);
  }
  const cached = contexts.get(extra);
  if (cached) return cached;
  const ctx = createSecureContext({ ca: extra === '' ? baseRootCertificates() : [...baseRootCertificates(), extra] });
  if (contexts.size >= MAX_CACHED_CONTEXTS) contexts.clear();
  contexts.set(extra, ctx);
  return ctx;
}
