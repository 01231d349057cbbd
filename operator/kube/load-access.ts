// Which API server and credentials the operator uses: a kubeconfig when KUBECONFIG names one (running outside the
// cluster), else the pod's in-cluster configuration, else ~/.kube/config.
import type { KubeAccess } from './access.ts';
import { inClusterAccess, inClusterServer, SERVICE_ACCOUNT_DIR, SERVICE_ACCOUNT_DIR_ENV } from './in-cluster.ts';

export async function loadKubeAccess(env: NodeJS.ProcessEnv): Promise<KubeAccess> {
  const server = env.KUBECONFIG ? undefined : inClusterServer(env);
  if (server) return inClusterAccess(server, env[SERVICE_ACCOUNT_DIR_ENV] || SERVICE_ACCOUNT_DIR);
  const { loadKubeConfigAccess } = await import('./kubeconfig-access.ts');
  return loadKubeConfigAccess();
}
