// A node agent's identity without a kubelet: a Pod object bound to a Node, and a projected-style token for it
// from the TokenRequest API (what the kubelet would mount into the node-agent pod).
import { FLEET_TOKEN_AUDIENCE } from '../../operator/api/group.ts';
import type { KubeClient } from '../../operator/kube/client.ts';

export async function createBoundPod(client: KubeClient, namespace: string, name: string, node: string, serviceAccount: string): Promise<string> {
  const pod = await client.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${namespace}/pods`, {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { nodeName: node, serviceAccountName: serviceAccount, automountServiceAccountToken: false, containers: [{ name: 'node-agent', image: 'example.invalid/node-agent:test' }] },
    },
  });
  return pod.metadata.uid;
}

export async function requestToken(client: KubeClient, namespace: string, serviceAccount: string, pod?: { name: string; uid: string }, audiences = [FLEET_TOKEN_AUDIENCE]): Promise<string> {
  const response = await client.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences, expirationSeconds: 3600, ...(pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid: pod.uid } } : {}) },
    },
  });
  return response.status.token;
}
