// What kubelets (and the scheduler) would do for a DaemonSet's pods, done through the API because no kubelet runs
// here: bind each new pod to the node its DaemonSet affinity names, report it Ready or not as the test decides
// (standing in for the readiness probe, /readyz = "the host converged"), and finish the deletion of terminating
// pods. Everything else (which pod to replace, when) is the real DaemonSet controller's. Bounded: one pass every
// intervalMs until stop().
import type { KubeClient, KubeList } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';

export interface SimPod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: {
    nodeName?: string;
    affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: { matchFields?: { values?: string[] }[] }[] } } };
  };
  status?: { conditions?: { type: string; status: string }[] };
}

export interface SimulatedKubelet {
  /** The pods as last seen (every pass), for the test's timeline. */
  pods(): SimPod[];
  stop(): Promise<void>;
}

const nodeOf = (pod: SimPod) => pod.spec.nodeName ?? pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchFields?.[0]?.values?.[0];

export function simulateKubelets(opts: {
  client: KubeClient;
  namespace: string;
  labelSelector: string;
  /** Whether the node agent of this pod (on this node, with this revision) would report its host converged. */
  ready(node: string, revision: string | undefined): boolean | Promise<boolean>;
  /** Called once per pass with the pods seen (after the pass's changes). */
  onPass?(pods: SimPod[]): void;
  intervalMs?: number;
}): SimulatedKubelet {
  const path = resourcePath(RESOURCES.pod, { namespace: opts.namespace });
  let last: SimPod[] = [];
  let stopped = false;
  const pass = async () => {
    const list = await opts.client.get<KubeList<SimPod>>(`${path}?labelSelector=${encodeURIComponent(opts.labelSelector)}`);
    for (const pod of list.items) {
      const name = pod.metadata.name;
      const podPath = resourcePath(RESOURCES.pod, { namespace: opts.namespace, name });
      if (pod.metadata.deletionTimestamp) {
        // The container stopped: the kubelet removes the pod for good.
        await opts.client.request('DELETE', podPath, { body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 } }).catch(() => undefined);
        continue;
      }
      const node = nodeOf(pod);
      if (!node) continue;
      if (!pod.spec.nodeName) {
        await opts.client.request('POST', `${podPath}/binding`, { body: { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: node } } }).catch(() => undefined);
      }
      const want = (await opts.ready(node, pod.metadata.annotations?.['ssmagent.io/revision'])) ? 'True' : 'False';
      const has = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      if (has !== want) {
        const now = new Date().toISOString();
        await opts.client
          .request('PATCH', `${podPath}/status`, {
            contentType: 'application/merge-patch+json',
            body: {
              status: {
                phase: 'Running',
                conditions: [
                  { type: 'Ready', status: want, lastTransitionTime: now },
                  { type: 'ContainersReady', status: want, lastTransitionTime: now },
                ],
              },
            },
          })
          .catch(() => undefined);
      }
    }
    last = (await opts.client.get<KubeList<SimPod>>(`${path}?labelSelector=${encodeURIComponent(opts.labelSelector)}`)).items;
    opts.onPass?.(last);
  };
  const loop = (async () => {
    for (let i = 0; i < 100_000 && !stopped; i++) {
      await pass().catch(() => undefined);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
    }
  })();
  return {
    pods: () => last,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
