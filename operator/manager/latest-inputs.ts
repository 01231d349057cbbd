// What resolving `latest` reads from the API server for a config: its proxy Secret, its mirror's credentials
// and its mirror's CA ConfigMap, read by the operator itself (the node agents read theirs from their mounts).
// Kept out of the wiring because these are I/O edges the controller only sees as functions.
import type { KubeClient } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { LatestResolution } from '../controllers/desired-agent-version.ts';

export function latestInputs(client: KubeClient, namespace: string): Required<Omit<LatestResolution, 'versions'>> {
  // One Secret read for both lookups the `latest` resolution needs; a missing key is undefined, never "".
  const readSecretKeys = async <K extends string>(name: string, keys: readonly K[]): Promise<Partial<Record<K, string>>> => {
    const secret = await kube.get<{ data?: Record<string, string> }>(client, RESOURCES.secret, { namespace, name });
    const out: Partial<Record<K, string>> = {};
    for (const key of keys) if (secret.data?.[key]) out[key] = Buffer.from(secret.data[key], 'base64').toString('utf8');
    return out;
  };
  const readProxySecret = async (name: string) => {
    const v = await readSecretKeys(name, ['httpsProxy', 'httpProxy'] as const);
    const httpsProxy = v.httpsProxy?.trim();
    const httpProxy = v.httpProxy?.trim();
    return { ...(httpsProxy ? { httpsProxy } : {}), ...(httpProxy ? { httpProxy } : {}) };
  };
  const readMirrorSecret = (name: string) => readSecretKeys(name, ['username', 'password'] as const);
  const readConfigMapKey = async (name: string, key: string): Promise<string | undefined> => {
    const cm = await kube.getOptional<{ data?: Record<string, string> }>(client, RESOURCES.configMap, { namespace, name });
    return cm?.data?.[key];
  };
  return { readProxySecret, readMirrorSecret, readConfigMapKey };
}
