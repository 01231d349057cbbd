// The chart, rendered by the real helm and applied to a test control plane, and the operator's own credentials:
// a token of the chart's ServiceAccount (TokenRequest), so an operator started with it has exactly the chart's RBAC.
import type { KubeConfig } from '@kubernetes/client-node';
import { CHART_DIR, KUBE_VERSION, runHelm } from './helm.ts';
import type { ControlPlane } from './control-plane.ts';

/** The release name the tests install under; the chart's fullname (ServiceAccount, Service, roles) is the same. */
export const RELEASE = 'ssm-agent-operator';

export interface InstalledChart {
  /** The rendered manifests, as applied. */
  manifest: string;
  /** system:serviceaccount:NAMESPACE:RELEASE */
  user: string;
  /** A kubeconfig that authenticates as the chart's ServiceAccount. */
  kubeConfig(): Promise<KubeConfig>;
}

async function must(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `helm template` of the chart into `namespace` (which must exist), applied with server-side apply. */
export async function installChart(cp: ControlPlane, namespace: string, extra: string[] = []): Promise<InstalledChart> {
  const rendered = await runHelm(['template', RELEASE, CHART_DIR, '--namespace', namespace, '--kube-version', KUBE_VERSION, ...extra]);
  if (rendered.code !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
  await must(cp, ['apply', '--server-side', '--field-manager=helm-test', '-f', '-'], rendered.stdout);
  return {
    manifest: rendered.stdout,
    user: `system:serviceaccount:${namespace}:${RELEASE}`,
    async kubeConfig() {
      const token = (await must(cp, ['create', 'token', RELEASE, '-n', namespace, '--duration=2h'])).trim();
      if (!token) throw new Error('kubectl create token printed no token');
      return cp.kubeConfigForToken(token, RELEASE);
    },
  };
}
