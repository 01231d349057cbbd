// The cluster's network, made of network namespaces of its own: nothing is added to the machine's root namespace.
//
//   fabric namespace   br0 10.213.0.1/24  — the control plane listens here; test servers are exposed here
//     ├─ veth v1 ── eth0 10.213.0.11  node 1's namespace, pods 10.244.1.0/24 on its cni0 (made by the CNI bridge)
//     ├─ veth v2 ── eth0 10.213.0.12  node 2's namespace, pods 10.244.2.0/24
//     └─ …
// Every node routes the other nodes' pod subnets via their node addresses (what a CNI like flannel's host-gw mode
// does), so a pod is reachable from every node; kube-proxy then makes ClusterIP Services work on each node.
// Names start with ssmk-<pid>-, so namespaces left by a test process that died are found and removed.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { pidAlive } from '../managed-process.ts';

const exec = promisify(execFile);
const NETNS_DIR = '/run/netns';
const PREFIX = 'ssmk-';

export const FABRIC_ADDRESS = '10.213.0.1';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/24';

export interface NodeNetwork {
  readonly name: string;
  /** ip netns name */
  readonly netns: string;
  readonly netnsPath: string;
  /** the node's address on the fabric (its InternalIP) */
  readonly address: string;
  /** the node's pod subnet */
  readonly podCidr: string;
}

export interface ClusterNetwork {
  readonly fabric: string;
  readonly fabricAddress: string;
  readonly nodes: readonly NodeNetwork[];
  /** deletes every namespace (their veths go with them); idempotent */
  remove(): Promise<void>;
}

async function ip(args: string[]): Promise<void> {
  try {
    await exec('ip', args, { timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

async function sysctl(netns: string, key: string, value: string): Promise<void> {
  await exec('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `${key}=${value}`], { timeout: 10_000 });
}

function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** Deletes the namespaces of test processes that are gone. Returns how many it deleted. */
export async function removeStaleNetworks(): Promise<number> {
  let removed = 0;
  for (const name of listNamespaces()) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (!m?.[1] || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    await ip(['netns', 'del', name]).catch(() => undefined);
    removed++;
  }
  return removed;
}

/** Node i (1-based) of a cluster: its address and pod subnet. */
export function nodeAddressing(i: number): { address: string; podCidr: string } {
  if (!Number.isInteger(i) || i < 1 || i > 200) throw new Error(`node index ${i} out of range (1-200)`);
  return { address: `10.213.0.${10 + i}`, podCidr: `10.244.${i}.0/24` };
}

export async function createClusterNetwork(nodeNames: readonly string[]): Promise<ClusterNetwork> {
  await removeStaleNetworks();
  const run = `${PREFIX}${process.pid}-${randomBytes(2).toString('hex')}`;
  const fabric = `${run}-fab`;
  const made: string[] = [];
  let removing: Promise<void> | undefined;
  const remove = (): Promise<void> => {
    removing ??= (async () => {
      for (const ns of made.reverse()) await ip(['netns', 'del', ns]).catch(() => undefined);
    })();
    return removing;
  };
  try {
    await ip(['netns', 'add', fabric]);
    made.push(fabric);
    await ip(['-n', fabric, 'link', 'set', 'lo', 'up']);
    await ip(['-n', fabric, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', fabric, 'addr', 'add', `${FABRIC_ADDRESS}/24`, 'dev', 'br0']);
    await ip(['-n', fabric, 'link', 'set', 'br0', 'up']);
    const nodes: NodeNetwork[] = [];
    for (const [index, name] of nodeNames.entries()) {
      const i = index + 1;
      const { address, podCidr } = nodeAddressing(i);
      const netns = `${run}-n${i}`;
      await ip(['netns', 'add', netns]);
      made.push(netns);
      await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', fabric, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      await ip(['-n', fabric, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      await ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
      await ip(['-n', netns, 'route', 'add', 'default', 'via', FABRIC_ADDRESS]);
      // The node routes for its pods (cni0) and, since the CNI bridge masquerades only traffic leaving the
      // cluster CIDR, forwards pod traffic between nodes unchanged.
      await sysctl(netns, 'net.ipv4.ip_forward', '1');
      // Pods talking to a Service whose endpoint is on the same bridge: iptables must see bridged traffic.
      await sysctl(netns, 'net.bridge.bridge-nf-call-iptables', '1').catch(() => undefined);
      nodes.push({ name, netns, netnsPath: `${NETNS_DIR}/${netns}`, address, podCidr });
    }
    for (const node of nodes) {
      for (const other of nodes) {
        if (other !== node) await ip(['-n', node.netns, 'route', 'add', other.podCidr, 'via', other.address]);
      }
      // the control plane reaches pods too (kubectl port-forward goes through kubelets, but webhooks would not)
      await ip(['-n', fabric, 'route', 'add', node.podCidr, 'via', node.address]);
    }
    return { fabric, fabricAddress: FABRIC_ADDRESS, nodes, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
