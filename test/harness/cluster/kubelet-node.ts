// One Kubernetes node: the cached node root filesystem booted with systemd-nspawn (systemd as PID 1) in a network
// namespace of its own, running containerd, kubelet and kube-proxy, with a cgroup of its own in every hierarchy.
// Boot, stop and clean-up are the systemd test host's (../systemd-host.ts); this adds what kubelet needs.
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startSystemdHost, type SystemdHost } from '../systemd-host.ts';
import { NODE_BIN_DIR, NODE_IMAGES_DIR, nodeFiles, type NodeFileInput } from './node-files.ts';
import type { NodeNetwork } from './network.ts';

export interface KubeletNode {
  readonly name: string;
  readonly network: NodeNetwork;
  /** the node's systemd: run commands inside the node (its own namespaces), read its files at host.rootDir */
  readonly host: SystemdHost;
  /** halts the node and removes what it made; idempotent */
  stop(): Promise<void>;
}

export interface StartKubeletNodeOptions {
  readonly network: NodeNetwork;
  /** the cached node root filesystem (ensure-rootfs.sh node) */
  readonly imageDir: string;
  /** the folder holding kubelet and kube-proxy (real files, not symlinks: it is bound into the node) */
  readonly kubeBinDir: string;
  /** the folder of OCI archives every node imports */
  readonly imagesDir: string;
  /** a folder of the caller's, removed by the caller */
  readonly workDir: string;
  readonly files: Omit<NodeFileInput, 'name' | 'address' | 'podCidr'>;
}

/** Writes the node's configuration layer (laid over the shared image, read-only). */
function writeLayer(dir: string, input: NodeFileInput): void {
  rmSync(dir, { recursive: true, force: true });
  for (const file of nodeFiles(input)) {
    const path = join(dir, file.path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if ('symlink' in file) symlinkSync(file.symlink, path);
    else writeFileSync(path, file.content, { mode: file.mode ?? 0o644 });
  }
}

export async function startKubeletNode(opts: StartKubeletNodeOptions): Promise<KubeletNode> {
  const { network } = opts;
  const layer = join(opts.workDir, `layer-${network.name}`);
  writeLayer(layer, { ...opts.files, name: network.name, address: network.address, podCidr: network.podCidr });
  const host = await startSystemdHost({
    name: network.name,
    imageDir: opts.imageDir,
    overlayDirs: [layer],
    networkNamespacePath: network.netnsPath,
    cgroups: 'all',
    // like a real node's disk: what pods write onto the host (the agent package) is reclaimable page cache
    writableLayer: 'disk',
    // A loaded machine (several clusters importing images at once) may need longer: SSM_CLUSTER_BOOT_TIMEOUT_SECONDS.
    bootTimeoutMs: Math.max(120, Number(process.env.SSM_CLUSTER_BOOT_TIMEOUT_SECONDS) || 0) * 1000,
    nspawnArgs: [
      // kubelet and runc need what a real node's root has; the node is confined by its own namespaces and cgroups
      '--capability=all',
      '--system-call-filter=@keyring', // runc joins a session keyring per container
      '--bind=/dev/kmsg', // kubelet's OOM watcher reads it
      // containerd's overlayfs snapshots cannot sit on the overlay root
      '--tmpfs=/var/lib/containerd:mode=0711',
      `--bind-ro=${opts.kubeBinDir}:${NODE_BIN_DIR}`,
      `--bind-ro=${opts.imagesDir}:${NODE_IMAGES_DIR}`,
    ],
  });
  return {
    name: network.name,
    network,
    host,
    async stop() {
      await host.stop();
      rmSync(layer, { recursive: true, force: true });
    },
  };
}
