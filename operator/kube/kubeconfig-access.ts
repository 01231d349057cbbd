// A kubeconfig (KUBECONFIG, ~/.kube/config, exec plugins, client certificates…) through @kubernetes/client-node,
// which is loaded only here, and only when there is a kubeconfig to read: in a pod it is not needed (in-cluster.ts).
import type { KubeConfig } from '@kubernetes/client-node';
import type * as https from 'node:https';
import type { KubeAccess, KubeAuth } from './access.ts';

export function kubeConfigAccess(kc: KubeConfig): KubeAccess {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  return {
    server: cluster.server,
    source: 'kubeconfig',
    async auth(): Promise<KubeAuth> {
      const opts: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
      if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      return { headers, tls: { ca: opts.ca as KubeAuth['tls']['ca'], cert: opts.cert as KubeAuth['tls']['cert'], key: opts.key as KubeAuth['tls']['key'], rejectUnauthorized: opts.rejectUnauthorized } };
    },
  };
}

/** Loads @kubernetes/client-node and the kubeconfig its default rules find (KUBECONFIG, then ~/.kube/config). */
export async function loadKubeConfigAccess(): Promise<KubeAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kubeConfigAccess(kc);
}
