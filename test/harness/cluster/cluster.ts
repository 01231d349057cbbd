// A real Kubernetes cluster on one machine, for the end-to-end tests and the demo: the project's control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) inside a network namespace of its own, and N nodes,
// each a systemd-nspawn container running containerd + kubelet + kube-proxy (./kubelet-node.ts), joined to it.
// Images come from OCI archives (test/tools/ensure-images.sh), imported by every node; nothing is pulled.
//
// Network rules (see ./network.ts): no address is added to the machine's root namespace. This process reaches the
// API server through a loopback forwarder, and test servers it runs on loopback (package mirror, SSM emulator,
// proxy) are exposed on the fabric address with `expose()`, where nodes and pods reach them.
//
// Everything it starts dies with this process (managed processes, PID namespaces); stop() removes the rest, and the
// next start sweeps what a killed run left (network namespaces, cgroups, temp dirs).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { CLUSTER_CONTROLLERS, ensureTools, startControlPlane, type ControlPlane, type StaticUser } from '../control-plane.ts';
import { pidAlive, sleep } from '../managed-process.ts';
import { ensureImages, type TestImages } from '../images.ts';
import { runSetupScriptOnce } from '../setup-script.ts';
import { exposeInNamespace, forwardIntoNamespace, type Forward } from './forwarder.ts';
import { startKubeletNode, type KubeletNode } from './kubelet-node.ts';
import { CLUSTER_CIDR, createClusterNetwork, FABRIC_ADDRESS, type ClusterNetwork } from './network.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const TOOLS = resolve(HERE, '..', '..', 'tools');
const TEMP_PREFIX = 'ssm-cluster-';
const NODES_READY_TIMEOUT_MS = 240_000;


export interface Cluster {
  readonly controlPlane: ControlPlane;
  readonly network: ClusterNetwork;
  readonly nodes: readonly KubeletNode[];
  readonly images: TestImages;
  /** where the API server listens for nodes and pods */
  readonly apiServerAddress: string;
  /** makes a loopback port of this process reachable from every node and pod, at the returned address */
  expose(localPort: number, name?: string): Promise<{ host: string; port: number; url(scheme?: string): string }>;
  node(name: string): KubeletNode;
  /** halts one node (its kubelet and everything on it), as a lost machine */
  stopNode(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** node names; default node-1 … node-3 */
  readonly nodes?: readonly string[];
  /** keep server logs here (default: inside the temp dir, removed by stop()) */
  readonly logDir?: string;
}

/** The cached node root filesystem (built on first use, several minutes). */
export function ensureNodeRootfs(): Promise<string> {
  return runSetupScriptOnce(join(TOOLS, 'ensure-rootfs.sh'), ['node']);
}

function removeStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${TEMP_PREFIX}(\\d+)-`).exec(name);
    if (m?.[1] && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

async function waitForNodesReady(cp: ControlPlane, names: readonly string[]): Promise<void> {
  const core = cp.kubeConfig().makeApiClient(CoreV1Api);
  const deadline = Date.now() + NODES_READY_TIMEOUT_MS;
  let last = '';
  for (let i = 0; i < NODES_READY_TIMEOUT_MS / 500 && Date.now() < deadline; i++) {
    try {
      const list = await core.listNode();
      const ready = new Set(
        list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((n) => n.metadata?.name ?? ''),
      );
      const missing = names.filter((n) => !ready.has(n));
      if (missing.length === 0) return;
      last = `not ready: ${missing.join(', ')}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  throw new Error(`nodes not Ready within ${NODES_READY_TIMEOUT_MS} ms (${last})`);
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const names = opts.nodes ?? ['node-1', 'node-2', 'node-3'];
  // Set-up first (each cached): tools, node root filesystem, images.
  const [binDir, imageDir, images] = await Promise.all([ensureTools(), ensureNodeRootfs(), ensureImages()]);
  const kubeBinDir = dirname(realpathSync(join(binDir, 'kubelet')));
  removeStaleDirs();
  const workDir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const forwards: Forward[] = [];
  const nodes: KubeletNode[] = [];
  let network: ClusterNetwork | undefined;
  let cp: ControlPlane | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const errors: unknown[] = [];
      const collect = (results: PromiseSettledResult<unknown>[]) =>
        results.forEach((r) => r.status === 'rejected' && errors.push(r.reason));
      collect(await Promise.allSettled(nodes.map((n) => n.stop())));
      collect(await Promise.allSettled([cp?.stop()]));
      collect(await Promise.allSettled(forwards.map((f) => f.close())));
      collect(await Promise.allSettled([network?.remove()]));
      rmSync(workDir, { recursive: true, force: true });
      if (errors.length > 0) throw errors[0];
    })();
    return stopping;
  };
  try {
    network = await createClusterNetwork(names);
    const fabric = network.fabric;
    let forwardCount = 0;
    const forward = async (port: number): Promise<number> => {
      const f = await forwardIntoNamespace({ netns: fabric, dir: workDir, name: `in-${forwardCount++}`, host: '127.0.0.1', port });
      forwards.push(f);
      return f.port;
    };
    const nodeTokens = new Map(names.map((n) => [n, randomBytes(24).toString('hex')]));
    const kubeProxyToken = randomBytes(24).toString('hex');
    const users: StaticUser[] = [
      ...names.map((n) => ({ name: `system:node:${n}`, token: nodeTokens.get(n) ?? '', groups: ['system:nodes'] })),
      // bound to the system:node-proxier ClusterRole by the API server's default RBAC
      { name: 'system:kube-proxy', token: kubeProxyToken },
    ];
    cp = await startControlPlane({
      network: { netns: fabric, address: FABRIC_ADDRESS, forward },
      scheduler: true,
      controllers: CLUSTER_CONTROLLERS,
      users,
      ...(opts.logDir ? { logDir: opts.logDir } : {}),
    });
    const controlPlane = cp;
    const apiServer = `https://${FABRIC_ADDRESS}:6443`;
    const started = await Promise.allSettled(
      network.nodes.map((n) =>
        startKubeletNode({
          network: n,
          imageDir,
          kubeBinDir,
          imagesDir: images.dir,
          workDir,
          files: {
            clusterCidr: CLUSTER_CIDR,
            apiServer,
            caPem: controlPlane.caPem,
            kubeletToken: nodeTokens.get(n.name) ?? '',
            kubeProxyToken,
            pauseImage: images.pauseImage,
          },
        }),
      ),
    );
    for (const r of started) if (r.status === 'fulfilled') nodes.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await waitForNodesReady(controlPlane, names);

    let exposeCount = 0;
    const cluster: Cluster = {
      controlPlane,
      network,
      nodes,
      images,
      apiServerAddress: apiServer,
      async expose(localPort, name) {
        const f = await exposeInNamespace({
          netns: fabric,
          dir: workDir,
          name: `out-${exposeCount++}${name ? `-${name}` : ''}`,
          host: FABRIC_ADDRESS,
          port: localPort,
          localPort,
        });
        forwards.push(f);
        return { host: FABRIC_ADDRESS, port: f.port, url: (scheme = 'http') => `${scheme}://${FABRIC_ADDRESS}:${f.port}` };
      },
      node(name) {
        const n = nodes.find((x) => x.name === name);
        if (!n) throw new Error(`no node ${name}`);
        return n;
      },
      async stopNode(name) {
        await cluster.node(name).stop();
      },
      stop,
    };
    return cluster;
  } catch (err) {
    const logs = cp?.logDir;
    await stop().catch(() => undefined);
    throw new Error(`the cluster did not start: ${(err as Error).message}${logs ? ` (server logs were in ${logs})` : ''}`, { cause: err });
  }
}
