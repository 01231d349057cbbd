// What a pod gets from the kubelet, for an operator process started by a test or a benchmark: a real
// ServiceAccount token (TokenRequest, bound to a Secret so that deleting the Secret revokes it) and the cluster CA
// in files, and the in-cluster environment pointing at them. The ServiceAccount is bound to cluster-admin: what the
// operator may do is the RBAC tests' business, this is about how it authenticates.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient } from '../../operator/kube/client.ts';
import { SERVICE_ACCOUNT_DIR_ENV } from '../../operator/kube/in-cluster.ts';

export interface InClusterCredentials {
  /** the directory standing for /var/run/secrets/kubernetes.io/serviceaccount */
  readonly dir: string;
  /** environment of the operator process: no KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT, the directory */
  readonly env: Record<string, string>;
  /** a new token bound to a new Secret `secretName` */
  boundToken(secretName: string): Promise<string>;
  /** replaces the token file as the kubelet does (write aside, rename over) */
  writeToken(token: string): void;
}

export async function inClusterCredentials(opts: { admin: KubeClient; server: string; caCertPath: string; namespace: string; serviceAccount: string; dir: string; home: string }): Promise<InClusterCredentials> {
  const { admin, namespace, serviceAccount } = opts;
  const post = <T>(path: string, body: unknown) => admin.request<T>('POST', path, { body });
  mkdirSync(opts.dir, { recursive: true });
  await post(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount } });
  await post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `in-cluster-${serviceAccount}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
  });
  const boundToken = async (secretName: string): Promise<string> => {
    const secret = await post<{ metadata: { uid: string } }>(`/api/v1/namespaces/${namespace}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName } });
    const r = await post<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600, boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: secretName, uid: secret.metadata.uid } },
    });
    return r.status.token;
  };
  const writeToken = (token: string): void => {
    const tmp = join(opts.dir, '.token.tmp');
    writeFileSync(tmp, token);
    renameSync(tmp, join(opts.dir, 'token'));
  };
  writeToken(await boundToken(`${serviceAccount}-token-0`));
  writeFileSync(join(opts.dir, 'ca.crt'), readFileSync(opts.caCertPath));
  writeFileSync(join(opts.dir, 'namespace'), namespace);
  const server = new URL(opts.server);
  return {
    dir: opts.dir,
    env: {
      KUBECONFIG: '',
      HOME: opts.home, // no ~/.kube/config to fall back on
      KUBERNETES_SERVICE_HOST: server.hostname,
      KUBERNETES_SERVICE_PORT: server.port,
      [SERVICE_ACCOUNT_DIR_ENV]: opts.dir,
    },
    boundToken,
    writeToken,
  };
}
