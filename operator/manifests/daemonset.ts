// The privileged node-agent DaemonSet. Pure. Only a change of the pod template restarts pods: the template
// references one immutable revision ConfigMap (volume and annotation), so a new revision rolls out node by node,
// and a pod is ready only when its host converged to that revision (/readyz), which gates the rolling update.
import { NODE_AGENT_COMMAND, NODE_AGENT_RUNTIME_ENV } from './node-agent-runtime.ts';
import type { V1DaemonSet, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { FLEET_TOKEN_AUDIENCE } from '../api/group.ts';
import {
  ACTIVATION_SECRET_DIR,
  FLEET_CA_DIR,
  FLEET_CA_KEY,
  FLEET_TOKEN_DIR,
  FLEET_TOKEN_KEY,
  MIRROR_SECRET_DIR,
  HOST_COMMAND_MAX_SECONDS,
  NODE_AGENT_CONFIG_DIR,
  NODE_AGENT_CONFIG_FILE,
  NODE_AGENT_ENV,
  NODE_AGENT_METRICS_PORT,
  PROXY_SECRET_DIR,
  SIGNING_KEYS_DIR,
  MIRROR_CA_DIR,
  MIRROR_CA_FILE,
  SIGNING_KEYS_FILE,
} from '../api/node-agent-config.ts';
import type { OwnedInput } from './context.ts';
import { ANNOTATION_REVISION, FLEET_CA_CONFIGMAP, nodeAgentName, ownedLabels, ownerReference, podSelectorLabels, revisionConfigMapName } from './names.ts';
import { activationSecretName } from './secrets.ts';

// From `npm run bench` (node agent: steady RSS 99 MiB average; 117.6 MiB process peak while it downloads, verifies
// and installs a 32 MiB package) and the real-cluster test (the pod's memory cgroup peaked at 136-141 MiB over the
// same install: page cache of the package and dpkg's unpacking included, which the kernel reclaims before an OOM
// kill). Request: the steady figure plus the fleet channel's client (not in the bench). Limit: 1.5x the process
// peak, 1.36x the cgroup peak; the real-cluster test installs under it.
// CPU 50m, not 10m: the request is the pod's CPU weight when a node is busy, and at 10m its probes timed out and a
// converged pod turned unready, which the DaemonSet controller replaces outside maxUnavailable (real cluster, load 20-35).
const DEFAULT_RESOURCES = { requests: { cpu: '50m', memory: '112Mi' }, limits: { memory: '192Mi' } };

/** Quantities may be written as numbers in the spec (cpu: 1); the pod spec wants strings. */
function quantities(map: Record<string, string | number> | undefined): Record<string, string> | undefined {
  return map ? Object.fromEntries(Object.entries(map).map(([k, v]) => [k, String(v)])) : undefined;
}

function resources(spec: { requests?: Record<string, string | number>; limits?: Record<string, string | number> } | undefined) {
  if (!spec) return DEFAULT_RESOURCES;
  return { ...(spec.requests ? { requests: quantities(spec.requests) } : {}), ...(spec.limits ? { limits: quantities(spec.limits) } : {}) };
}

// Every volume of the node-agent pod, and why. There is NO hostPath volume: the host's files are reached through
// /proc/1/root (hostPID), with symlinks resolved inside the host's root (node-agent/host/host-root-path.ts), and
// downloads go to the host's disk the same way (/var/lib/ssm-node-agent/downloads).
function volumes({ config }: OwnedInput, configMapName: string): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const list: V1Volume[] = [
    // This pod's revision of the rendered configuration (immutable ConfigMap), read-only.
    { name: 'config', configMap: { name: configMapName } },
    // The fleet channel's credential: a token with audience ssmagent.io/fleet only (useless against the API server,
    // which expects its own audience), one hour, refreshed by the kubelet. The operator checks it by TokenReview.
    {
      name: 'fleet-token',
      projected: { sources: [{ serviceAccountToken: { audience: FLEET_TOKEN_AUDIENCE, expirationSeconds: 3600, path: FLEET_TOKEN_KEY } }] },
    },
    // Scratch for the process (the root filesystem is read-only); small and memory-backed, never the download.
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    // The fleet channel's CA, to verify the operator. Optional: the operator creates it with its first certificate.
    { name: 'fleet-ca', configMap: { name: FLEET_CA_CONFIGMAP, optional: true } },
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'config', mountPath: NODE_AGENT_CONFIG_DIR, readOnly: true },
    { name: 'fleet-token', mountPath: FLEET_TOKEN_DIR, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'fleet-ca', mountPath: FLEET_CA_DIR, readOnly: true },
  ];
  const activation = activationSecretName(config);
  if (activation) {
    // The activation id and code, mode 0400, for -register only (never logged, never in the environment).
    // Optional: a missing Secret is reported by the node agent instead of leaving pods stuck in ContainerCreating.
    list.push({ name: 'activation', secret: { secretName: activation, optional: true, defaultMode: 0o400 } });
    mounts.push({ name: 'activation', mountPath: ACTIVATION_SECRET_DIR, readOnly: true });
  }
  const keys = config.spec.agent.source?.signingKeys;
  if (keys) {
    // Public keys of a mirror that re-signs the packages (read-only, public material).
    list.push({ name: 'signing-keys', configMap: { name: keys.configMap, items: [{ key: keys.key, path: SIGNING_KEYS_FILE }] } });
    mounts.push({ name: 'signing-keys', mountPath: SIGNING_KEYS_DIR, readOnly: true });
  }
  const ca = config.spec.agent.source?.caBundle;
  if (ca) {
    // The mirror's private CA (public material). Optional: a missing ConfigMap is the install step's clear failure.
    list.push({ name: 'mirror-ca', configMap: { name: ca.configMap, optional: true, items: [{ key: ca.key, path: MIRROR_CA_FILE }] } });
    mounts.push({ name: 'mirror-ca', mountPath: MIRROR_CA_DIR, readOnly: true });
  }
  const proxySecret = config.spec.proxy?.secretRef?.name;
  if (proxySecret) {
    // Proxy URLs with credentials, mode 0400: they go into the agent's systemd drop-in, never into a ConfigMap.
    list.push({ name: 'proxy', secret: { secretName: proxySecret, optional: true, defaultMode: 0o400 } });
    mounts.push({ name: 'proxy', mountPath: PROXY_SECRET_DIR, readOnly: true });
  }
  const mirrorSecret = config.spec.agent.source?.mirrorSecretRef?.name;
  if (mirrorSecret) {
    // The mirror's basic credentials (username, password), mode 0400: sent to the mirror's origin only.
    list.push({ name: 'mirror', secret: { secretName: mirrorSecret, optional: true, defaultMode: 0o400 } });
    mounts.push({ name: 'mirror', mountPath: MIRROR_SECRET_DIR, readOnly: true });
  }
  return { volumes: list, mounts };
}

export function buildDaemonSet(input: OwnedInput, revision: string): V1DaemonSet {
  const { config, context } = input;
  const name = nodeAgentName(config.metadata.name);
  const ds = config.spec.daemonSet;
  const { volumes: podVolumes, mounts } = volumes(input, revisionConfigMapName(config.metadata.name, revision));
  const nodeAffinity = config.spec.affinity?.nodeAffinity;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: context.namespace, labels: ownedLabels(config.metadata.name), ownerReferences: [ownerReference(config)] },
    spec: {
      selector: { matchLabels: podSelectorLabels(config.metadata.name) },
      revisionHistoryLimit: 5,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: ds.maxUnavailable, maxSurge: 0 } },
      template: {
        metadata: {
          labels: ownedLabels(config.metadata.name),
          annotations: { ...(ds.podAnnotations ?? {}), [ANNOTATION_REVISION]: revision },
        },
        // The pod's privileges, each with its reason (see also the README's "Node-agent privileges" table).
        spec: {
          // Its own identity for the fleet token, bound to no role: the node agent never calls the Kubernetes API, so
          // no API token is mounted.
          serviceAccountName: name,
          automountServiceAccountToken: false,
          // hostPID: PID 1 in the pod is the host's init. The node agent works on the host by `nsenter -t 1` into
          // its namespaces (the host's own dpkg, rpm, systemctl, useradd, visudo) and reads and writes host files
          // through /proc/1/root; without it PID 1 would be the pod's pause process.
          hostPID: true,
          // hostNetwork: amazon-ssm-agent runs in the host's network namespace, so the connectivity probes must too
          // (the host's routes, firewall, proxy path and source address). IMDSv2 answers a PUT only within its hop
          // limit (1 by default on EC2): from a pod network the EC2 detection would fail. The metrics port (9464) is
          // then on the node's address, where the PodMonitor scrapes it.
          hostNetwork: true,
          // The host's resolver, as the agent itself uses: the probes must see what the agent sees.
          dnsPolicy: 'Default',
          // A host command (dpkg, rpm, register) in flight is let finish on SIGTERM: the grace period covers the
          // longest one's timeout, plus the time to report and exit.
          terminationGracePeriodSeconds: HOST_COMMAND_MAX_SECONDS + 30,
          ...(config.spec.nodeSelector && Object.keys(config.spec.nodeSelector).length > 0 ? { nodeSelector: config.spec.nodeSelector } : {}),
          ...(config.spec.tolerations?.length ? { tolerations: config.spec.tolerations } : {}),
          ...(nodeAffinity ? { affinity: { nodeAffinity } } : {}),
          ...(ds.priorityClassName ? { priorityClassName: ds.priorityClassName } : {}),
          ...(ds.imagePullSecrets?.length ? { imagePullSecrets: ds.imagePullSecrets } : {}),
          containers: [
            {
              name: 'node-agent',
              image: ds.image ?? context.nodeAgentImage,
              imagePullPolicy: 'IfNotPresent',
              command: [...NODE_AGENT_COMMAND],
              env: [
                { name: NODE_AGENT_ENV.nodeName, valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: NODE_AGENT_ENV.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: NODE_AGENT_ENV.revision, valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${ANNOTATION_REVISION}']` } } },
                { name: NODE_AGENT_ENV.configFile, value: `${NODE_AGENT_CONFIG_DIR}/${NODE_AGENT_CONFIG_FILE}` },
                { name: NODE_AGENT_ENV.fleetTokenFile, value: `${FLEET_TOKEN_DIR}/${FLEET_TOKEN_KEY}` },
                ...(context.fleetEndpoint
                  ? [
                      { name: NODE_AGENT_ENV.fleetEndpoint, value: context.fleetEndpoint },
                      { name: NODE_AGENT_ENV.fleetCaFile, value: `${FLEET_CA_DIR}/${FLEET_CA_KEY}` },
                    ]
                  : []),
                ...(config.spec.agent.source?.signingKeys ? [{ name: NODE_AGENT_ENV.signingKeyFile, value: `${SIGNING_KEYS_DIR}/${SIGNING_KEYS_FILE}` }] : []),
                ...NODE_AGENT_RUNTIME_ENV.map((e) => ({ ...e })),
              ],
              ports: [{ name: 'metrics', containerPort: NODE_AGENT_METRICS_PORT, protocol: 'TCP' }],
              // Ready = the host converged to this pod's revision (not merely "the process runs": that is liveness).
              // Asked every 2 s: the rolling update waits for each node's convergence to be seen (a 10 s period
              // cost 5 s a node on average). /readyz answers from the last pass, so asking is cheap. Three misses
              // (6 s) make a ready pod unready: one slow answer of a busy process is no drift, and a converged
              // pod flipping unready counts for the DaemonSet controller as another node in flight. A new pod
              // starts unready whatever the threshold, so the rollout still waits for its host to converge.
              readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 3, successThreshold: 1 },
              // A 5 s answer time, not the kubelet's default 1 s: on a busy node a starved process missed 1 s and was
              // restarted in the middle of a pass (seen on the real cluster at load 20-35).
              livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, initialDelaySeconds: 30, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 5 },
              resources: resources(ds.resources),
              // privileged: nsenter needs setns() into PID 1's mount, UTS, IPC, network and PID namespaces, which
              // takes CAP_SYS_ADMIN and ptrace access to PID 1 (CAP_SYS_PTRACE), and the RuntimeDefault seccomp
              // profile refuses setns without CAP_SYS_ADMIN. The host commands then run with this container's
              // capability bounding set (nsenter does not regain any): dpkg and rpm maintainer scripts, systemctl,
              // useradd and visudo need CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_SETUID/SETGID, CAP_SYS_ADMIN
              // and more that no fixed list covers, so no capabilities are added one by one: privileged grants them
              // all, and is what the node agent is (root on the host). runAsUser 0: the same host commands as root.
              // readOnlyRootFilesystem: the image itself is never written (scratch is the small /tmp above).
              securityContext: { privileged: true, runAsUser: 0, readOnlyRootFilesystem: true },
              volumeMounts: mounts,
            },
          ],
          volumes: podVolumes,
        },
      },
    },
  };
}
