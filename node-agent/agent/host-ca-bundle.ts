// The probes trust what the host trusts: the agent verifies TLS with the host's CA bundle, which may carry a
// corporate CA that the node agent's own image does not.
import type { Host } from '../host/host.ts';

const BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

/** The host's CA bundle, as a path this process can read; undefined when the host has none of the usual ones. */
export async function hostCaBundle(host: Host): Promise<string | undefined> {
  for (const path of BUNDLES) if ((await host.stat(path))?.size) return host.hostPath(path);
  return undefined;
}
