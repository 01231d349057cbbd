// The standard in-cluster configuration, read directly: the API server from KUBERNETES_SERVICE_HOST/PORT, the
// ServiceAccount token and CA from the files the kubelet projects into the pod. This is what client-go's
// rest.InClusterConfig does; reading three files here saves loading @kubernetes/client-node (≈ 80 MiB of RSS).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeAccess, KubeAuth } from './access.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/**
 * Tests only: another directory holding `token` and `ca.crt` (a real ServiceAccount token written by the test).
 * In a pod the kubelet mounts them at SERVICE_ACCOUNT_DIR.
 */
export const SERVICE_ACCOUNT_DIR_ENV = 'SSM_OPERATOR_TEST_SERVICEACCOUNT_DIR';

/** The API server's address in a pod, or undefined outside one. */
export function inClusterServer(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST?.trim();
  const port = env.KUBERNETES_SERVICE_PORT?.trim();
  if (!host || !port) return undefined;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) throw new Error(`KUBERNETES_SERVICE_PORT=${port}: not a port number`);
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function inClusterAccess(server: string, dir: string): KubeAccess {
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  return {
    server,
    source: `in-cluster (${dir})`,
    async auth(): Promise<KubeAuth> {
      const [token, ca] = await Promise.all([
        readFile(tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new Error(`cannot read the ServiceAccount token ${tokenFile} (${err.code ?? err.message}): is automountServiceAccountToken off?`);
        }),
        readFile(caFile).catch((err: NodeJS.ErrnoException) => {
          throw new Error(`cannot read the cluster CA ${caFile} (${err.code ?? err.message})`);
        }),
      ]);
      const bearer = token.trim();
      if (!bearer) throw new Error(`the ServiceAccount token ${tokenFile} is empty`);
      return { headers: { Authorization: `Bearer ${bearer}` }, tls: { ca, rejectUnauthorized: true } };
    },
  };
}
