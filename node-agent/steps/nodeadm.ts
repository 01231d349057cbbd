// EKS Hybrid Nodes: `nodeadm init` with the SSM credential provider installs amazon-ssm-agent and registers the host
// with a hybrid activation of its own, for the node's own IAM credentials. On such a host the agent and its
// registration are nodeadm's: the node agent adopts them (observes and reports) and never reinstalls, reconfigures,
// re-registers or uninstalls them, and the operator never deregisters them.
//
// nodeadm starts the kubelet with the labels `eks.amazonaws.com/compute-type=hybrid` and
// `eks.amazonaws.com/hybrid-credential-provider=ssm` (or `iam-ra` for IAM Roles Anywhere, where nodeadm installs no
// SSM agent), and writes the kubelet's flags to NODEADM_KUBELET_ARGS in /etc/eks/kubelet/environment
// (github.com/aws/eks-hybrid, internal/kubelet). That file is what the host says; the Node's labels are what the
// cluster says (operator/diagnose/report.ts).
import type { Host } from '../host/host.ts';

export const NODEADM_KUBELET_ENV = '/etc/eks/kubelet/environment';
export const COMPUTE_TYPE_LABEL = 'eks.amazonaws.com/compute-type';
export const CREDENTIAL_PROVIDER_LABEL = 'eks.amazonaws.com/hybrid-credential-provider';
export const MANAGED_BY_NODEADM = 'ManagedByNodeadm';

/** Whether nodeadm's kubelet flags make this a hybrid node whose credentials come from SSM. Pure. */
export function nodeadmOwnsSsmAgent(kubeletEnvironment: string): boolean {
  const labels = new Map<string, string>();
  for (const m of kubeletEnvironment.matchAll(/--node-labels[= ]([^\s"']+)/g)) {
    for (const pair of (m[1] ?? '').split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) labels.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  return labels.get(COMPUTE_TYPE_LABEL) === 'hybrid' && labels.get(CREDENTIAL_PROVIDER_LABEL) === 'ssm';
}

export async function detectNodeadm(host: Host): Promise<boolean> {
  const text = await host.readFile(NODEADM_KUBELET_ENV).catch(() => undefined);
  return text !== undefined && nodeadmOwnsSsmAgent(text.toString('utf8'));
}
