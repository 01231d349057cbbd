// A real control plane with the CRD installed, an operator namespace and some Nodes: what every operator
// integration test starts from.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient, isNotFound } from '../../operator/kube/client.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { waitFor } from './wait.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CRD_FILE = join(REPO, 'crds', 'ssmagent.io_ssmagentconfigs.yaml');
export const NAMESPACE = 'ssm-system';

export interface OperatorTestEnv {
  cp: ControlPlane;
  client: KubeClient;
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  createNode(name: string, labels?: Record<string, string>, taints?: { key: string; value?: string; effect: string }[]): Promise<void>;
  getOrUndefined<T>(path: string): Promise<T | undefined>;
  stop(): Promise<void>;
}

export async function startOperatorTestEnv(opts: { controllerManager?: boolean } = {}): Promise<OperatorTestEnv> {
  const cp = await startControlPlane({ controllerManager: opts.controllerManager ?? true });
  try {
    const kubectl = async (args: string[], input?: string) => cp.kubectl(args, input);
    const must = async (args: string[], input?: string) => {
      const r = await kubectl(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
      return r;
    };
    await must(['apply', '--server-side', '-f', CRD_FILE]);
    await must(['wait', '--for=condition=Established', '--timeout=30s', 'crd/ssmagentconfigs.ssmagent.io']);
    await must(['create', 'namespace', NAMESPACE]);
    // Refreshes kubectl's discovery cache, so `sac` resolves in every later kubectl call.
    await must(['api-resources', '--api-group=ssmagent.io']);
    const client = new KubeClient(cp.kubeConfig());
    // The CRD's OpenAPI/CEL must be served before tests create objects.
    await waitFor('the SsmAgentConfig API to be served', async () => (await client.get(resourcePath(RESOURCES.ssmAgentConfig))) !== undefined, 30_000, 200);
    return {
      cp,
      client,
      kubectl,
      async createNode(name, labels = {}, taints = []) {
        // A Ready node without the not-ready taint, as a kubelet and the node lifecycle controller would leave it.
        await cp.addNode(name, { labels, taints });
      },
      async getOrUndefined<T>(path: string) {
        try {
          return await client.get<T>(path);
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      async stop() {
        client.close();
        await cp.stop();
      },
    };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}
