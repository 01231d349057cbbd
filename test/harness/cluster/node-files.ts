// The files that turn the cached node root filesystem (ensure-rootfs.sh node) into one particular Kubernetes node:
// units, containerd's and kubelet's configuration, credentials, the CNI network. Pure: the harness writes them into
// a directory that is laid over the shared image (an overlay lower layer), so the image is never rebuilt for a
// configuration change and never written to. What each piece is for is in ../../../../shared/REAL-CLUSTER.md.
import YAML from 'yaml';

export interface NodeFileInput {
  readonly name: string;
  readonly address: string;
  readonly podCidr: string;
  readonly clusterCidr: string;
  /** https://ADDRESS:PORT of the API server, as the node reaches it */
  readonly apiServer: string;
  readonly caPem: string;
  readonly kubeletToken: string;
  readonly kubeProxyToken: string;
  readonly pauseImage: string;
}

export type NodeFile =
  | { readonly path: string; readonly content: string; readonly mode?: number }
  | { readonly path: string; readonly symlink: string };

/** Where the harness binds kubelet, kube-proxy (read-only, from the tools cache) and the image archives. */
export const NODE_BIN_DIR = '/opt/kube/bin';
export const NODE_IMAGES_DIR = '/opt/images';

/**
 * The global sysctls kubelet insists on (pkg/kubelet/cm/container_manager_linux.go): it writes them when they
 * differ. Bind-mounting a read-only file that already holds the value over each /proc/sys entry keeps the
 * machine's kernel untouched while kubelet sees what it wants.
 */
const KUBELET_SYSCTLS: Readonly<Record<string, string>> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

const PREP_SCRIPT = `#!/bin/sh
# Runs once at boot, before containerd and kubelet. Safe only because this node has a cgroup of its own in every
# hierarchy and a network namespace of its own (the harness makes both).
set -eu
# 1. nspawn mounts the cgroup hierarchies read-only; kubelet and runc create kubepods/… in each of them.
for d in /sys/fs/cgroup/*/; do
  mount -o remount,bind,rw "$d" 2>/dev/null || mount -o remount,rw "$d"
done
# 2. Global sysctls kubelet would write: shadow them with read-only files holding the values it wants.
for f in /etc/kubernetes/sysctl/*; do
  target=/proc/sys/$(basename "$f" | tr . /)
  mount --bind "$f" "$target"
  mount -o remount,bind,ro "$target"
done
# 3. /proc/sys/net belongs to this node's own network namespace: the CNI bridge and kube-proxy write it.
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
`;

const IMPORT_SCRIPT = `#!/bin/sh
# Images come as OCI archives (no registry): import each into containerd's k8s.io namespace before kubelet starts.
set -eu
for f in ${NODE_IMAGES_DIR}/*.oci.tar; do
  [ -e "$f" ] || continue
  ctr -n k8s.io images import "$f"
done
ctr -n k8s.io images ls -q
`;

function unit(lines: Readonly<Record<string, readonly string[]>>): string {
  return (
    Object.entries(lines)
      .map(([section, body]) => `[${section}]\n${body.join('\n')}\n`)
      .join('\n')
  );
}

function kubeconfig(input: NodeFileInput, user: string, token: string): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cluster', cluster: { server: input.apiServer, 'certificate-authority': '/etc/kubernetes/ca.crt' } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'default', context: { cluster: 'cluster', user } }],
    'current-context': 'default',
  });
}

export function nodeFiles(input: NodeFileInput): NodeFile[] {
  const wants = (u: string): NodeFile => ({ path: `/etc/systemd/system/multi-user.target.wants/${u}`, symlink: `/etc/systemd/system/${u}` });
  const files: NodeFile[] = [
    { path: '/etc/hostname', content: `${input.name}\n` },
    { path: '/etc/kubernetes/ca.crt', content: input.caPem },
    { path: '/etc/kubernetes/kubelet.kubeconfig', content: kubeconfig(input, `system:node:${input.name}`, input.kubeletToken), mode: 0o600 },
    { path: '/etc/kubernetes/kube-proxy.kubeconfig', content: kubeconfig(input, 'system:kube-proxy', input.kubeProxyToken), mode: 0o600 },
    ...Object.entries(KUBELET_SYSCTLS).map(([key, value]) => ({ path: `/etc/kubernetes/sysctl/${key.replaceAll('/', '.')}`, content: `${value}\n` })),
    { path: '/usr/local/sbin/ssm-node-prep', content: PREP_SCRIPT, mode: 0o755 },
    { path: '/usr/local/sbin/ssm-node-images', content: IMPORT_SCRIPT, mode: 0o755 },
    {
      path: '/etc/systemd/system/ssm-node-prep.service',
      content: unit({
        Unit: ['Description=Make this nspawn container fit for kubelet (cgroups, sysctls)', 'DefaultDependencies=no', 'Before=containerd.service kubelet.service kube-proxy.service'],
        Service: ['Type=oneshot', 'RemainAfterExit=yes', 'ExecStart=/usr/local/sbin/ssm-node-prep'],
        Install: ['WantedBy=multi-user.target'],
      }),
    },
    {
      path: '/etc/systemd/system/containerd.service',
      content: unit({
        Unit: ['Description=containerd', 'After=ssm-node-prep.service', 'Requires=ssm-node-prep.service'],
        // No modprobe (no kernel modules here); containerd needs no other set-up.
        Service: ['ExecStart=/usr/bin/containerd', 'Type=notify', 'Delegate=yes', 'KillMode=process', 'Restart=always', 'RestartSec=1', 'LimitNOFILE=1048576'],
        Install: ['WantedBy=multi-user.target'],
      }),
    },
    {
      path: '/etc/systemd/system/ssm-node-images.service',
      content: unit({
        Unit: ['Description=Import the test images into containerd', 'After=containerd.service', 'Requires=containerd.service'],
        Service: ['Type=oneshot', 'RemainAfterExit=yes', 'ExecStart=/usr/local/sbin/ssm-node-images'],
        Install: ['WantedBy=multi-user.target'],
      }),
    },
    {
      path: '/etc/systemd/system/kubelet.service',
      content: unit({
        Unit: ['Description=kubelet', 'After=ssm-node-images.service', 'Wants=ssm-node-images.service'],
        Service: [
          `ExecStart=${NODE_BIN_DIR}/kubelet --config=/etc/kubernetes/kubelet.yaml --kubeconfig=/etc/kubernetes/kubelet.kubeconfig --node-ip=${input.address} --v=1`,
          'Restart=always',
          'RestartSec=2',
        ],
        Install: ['WantedBy=multi-user.target'],
      }),
    },
    {
      path: '/etc/systemd/system/kube-proxy.service',
      content: unit({
        Unit: ['Description=kube-proxy', 'After=ssm-node-prep.service', 'Requires=ssm-node-prep.service'],
        Service: [`ExecStart=${NODE_BIN_DIR}/kube-proxy --config=/etc/kubernetes/kube-proxy.yaml --v=1`, 'Restart=always', 'RestartSec=2'],
        Install: ['WantedBy=multi-user.target'],
      }),
    },
    wants('ssm-node-prep.service'),
    wants('containerd.service'),
    wants('ssm-node-images.service'),
    wants('kubelet.service'),
    wants('kube-proxy.service'),
    {
      path: '/etc/containerd/config.toml',
      content: `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${input.pauseImage}"
  # no AppArmor, no hugetlb controller, no lowering of oom_score_adj (no CAP_SYS_RESOURCE here): see REAL-CLUSTER.md
  disable_apparmor = true
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
`,
    },
    {
      path: '/etc/cni/net.d/10-bridge.conflist',
      content: JSON.stringify(
        {
          cniVersion: '1.0.0',
          name: 'ssm-test',
          plugins: [
            {
              type: 'bridge',
              bridge: 'cni0',
              isGateway: true,
              ipMasq: true,
              hairpinMode: true,
              ipam: { type: 'host-local', ranges: [[{ subnet: input.podCidr }]], routes: [{ dst: '0.0.0.0/0' }] },
            },
            { type: 'portmap', capabilities: { portMappings: true } },
          ],
        },
        null,
        2,
      ),
    },
    {
      path: '/etc/kubernetes/kubelet.yaml',
      content: YAML.stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        failCgroupV1: false, // this machine has cgroups v1 (hybrid); kubelet 1.35 refuses them unless told
        cgroupDriver: 'cgroupfs',
        containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
        address: input.address,
        readOnlyPort: 0,
        authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: '/etc/kubernetes/ca.crt' } },
        authorization: { mode: 'Webhook' },
        evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        serializeImagePulls: false,
        podCIDR: input.podCidr,
        // Fast enough for tests to see status changes, not so fast that 3 nodes load 2 cores.
        nodeStatusUpdateFrequency: '5s',
        syncFrequency: '10s',
        fileCheckFrequency: '10s',
        resolvConf: '/etc/resolv.conf',
      }),
    },
    {
      path: '/etc/kubernetes/kube-proxy.yaml',
      content: YAML.stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: '/etc/kubernetes/kube-proxy.kubeconfig' },
        mode: 'iptables',
        clusterCIDR: input.clusterCidr,
        hostnameOverride: input.name,
        bindAddress: input.address,
        metricsBindAddress: '127.0.0.1:10249',
        healthzBindAddress: '127.0.0.1:10256',
        // conntrack limits are global to the machine: leave them alone (0 = do not set)
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
        iptables: { localhostNodePorts: false, syncPeriod: '10s', minSyncPeriod: '0s' },
      }),
    },
  ];
  return files;
}
