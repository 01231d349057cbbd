// The product as users run it, on the real cluster (./cluster.ts): the chart installed with `helm install`, the
// operator and node agents running from the image built from the repository's Dockerfile, plus what AWS would be
// — the SSM API emulator and a package mirror of stand-in agent .debs (as large as the real package) — served from
// this process and exposed on the cluster's fabric, where the operator pods and the nodes reach them.
// Shared by the end-to-end tests and the demo. Facts about hosts are read INSIDE each node (dpkg, systemctl, the
// agent's own files), never through the node agent.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSsmEmulator, type SsmEmulator } from '../../servers/ssm-emulator/index.ts';
import { CHART_DIR, runHelm, type HelmResult } from '../helm.ts';
import { createNodeAgentFixture, type NodeAgentFixture } from '../node-agent-fixture.ts';
import { STAND_IN_PATHS } from '../stand-in-agent.ts';
import { startCluster, type Cluster, type StartClusterOptions } from './cluster.ts';
import { FABRIC_ADDRESS } from './network.ts';
import { startHttpsFront, type HttpsFront } from '../https-front.ts';

export const NAMESPACE = 'ssm-system';
export const RELEASE = 'ssm';
export const SIGNING_KEYS_CONFIGMAP = 'stand-in-signing-keys';
/** The private CA of the https mirror (mirrorHttpsUrl), in the operator's namespace (spec.agent.source.caBundle). */
export const MIRROR_CA_CONFIGMAP = 'stand-in-mirror-ca';
/** The real amazon-ssm-agent package is about 30 MB: the stand-in is padded to that. */
export const PACKAGE_PAD_MIB = 32;

export interface ProductCluster {
  readonly cluster: Cluster;
  readonly emulator: SsmEmulator;
  readonly fixture: NodeAgentFixture;
  /** the mirror as nodes reach it (spec.agent.source.mirror) */
  readonly mirrorUrl: string;
  /** the same mirror over https, its certificate from a private CA (ConfigMap MIRROR_CA_CONFIGMAP, key ca.crt) */
  readonly mirrorHttpsUrl: string;
  /** the SSM emulator as the operator pods reach it (SSM_ENDPOINT) */
  readonly ssmUrl: string;
  readonly nodeNames: readonly string[];
  /** kubectl as the cluster admin; rejects with the output on a non-zero exit */
  kubectl(args: string[], input?: string): Promise<string>;
  /** kubectl, resolving with the exit code (for what may fail) */
  kubectlResult(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  helm(args: string[]): Promise<HelmResult>;
  /** `helm install` of the chart with the values the cluster needs (local image, SSM emulator), plus `extra` --set flags */
  helmInstall(extra?: readonly string[]): Promise<HelmResult>;
  /** the helm arguments helmInstall uses (for `helm upgrade`) */
  chartValues(): string[];
  host: {
    /** the agent's version as the node's package manager reports it, or undefined when not installed */
    agentVersion(node: string): Promise<string | undefined>;
    serviceActive(node: string): Promise<boolean>;
    /** registrations the stand-in performed on this host (one line each) */
    registrations(node: string): Promise<number>;
    /** the managed-instance id the host's agent has, from its own registration file */
    instanceId(node: string): Promise<string | undefined>;
  };
  stop(): Promise<void>;
}

/** A Hybrid config with a managed activation over every node, agents from the cluster's mirror (tests, demo, bench). */
export function hybridConfigYaml(
  p: Pick<ProductCluster, 'mirrorUrl' | 'mirrorHttpsUrl' | 'fixture'>,
  o: { name: string; version: string; deletionPolicy?: 'Retain' | 'Uninstall'; https?: boolean },
): string {
  // The fabric's mirror is plain http: the package is pinned by its sha256 as well as signed. A version the mirror
  // lacks (a broken revision) gets a sha256 no package has: its download fails first, with NotFound.
  let sha256 = '0'.repeat(64);
  try {
    sha256 = p.fixture.sha256(o.version);
  } catch {
    // not on the mirror
  }
  // Over https (the mirror's private CA trusted through caBundle), `latest` may be used: nothing is pinned.
  const source = o.https
    ? `{mirror: "${p.mirrorHttpsUrl}", caBundle: {configMap: ${MIRROR_CA_CONFIGMAP}, key: ca.crt}, signingKeys: {configMap: ${SIGNING_KEYS_CONFIGMAP}, key: keys.asc}}`
    : `{mirror: "${p.mirrorUrl}", signingKeys: {configMap: ${SIGNING_KEYS_CONFIGMAP}, key: keys.asc}}`;
  return `apiVersion: ssmagent.io/v1alpha1
kind: SsmAgentConfig
metadata: {name: ${o.name}}
spec:
  region: eu-west-1
  agent:
    version: "${o.version}"
${o.https && o.version === 'latest' ? '' : `    sha256: "${sha256}"
`}    source: ${source}
  registration:
    mode: Hybrid
    activation: {managed: {iamRole: SSMServiceRole, registrationLimit: 10}}
  deletionPolicy: ${o.deletionPolicy ?? 'Uninstall'}
  daemonSet: {maxUnavailable: 1}
`;
}

export interface StartProductOptions extends StartClusterOptions {
  /** agent versions on the mirror */
  readonly versions: readonly string[];
  readonly region?: string;
  /** MiB of padding per package; default PACKAGE_PAD_MIB (as large as the real one) */
  readonly padMiB?: number;
}

export async function startProductCluster(opts: StartProductOptions): Promise<ProductCluster> {
  const region = opts.region ?? 'eu-west-1';
  const started = await Promise.allSettled([
    startCluster(opts),
    startSsmEmulator({ region }),
    createNodeAgentFixture({ versions: opts.versions, tempPrefix: 'ssm-product-', padMiB: opts.padMiB ?? PACKAGE_PAD_MIB }),
  ] as const);
  const [startedCluster, startedEmulator, startedFixture] = started;
  if (startedCluster.status === 'rejected' || startedEmulator.status === 'rejected' || startedFixture.status === 'rejected') {
    // What did start is stopped: a mirror or emulator left listening would keep the test process alive for good.
    await Promise.allSettled([
      startedCluster.status === 'fulfilled' ? startedCluster.value.stop() : undefined,
      startedEmulator.status === 'fulfilled' ? startedEmulator.value.stop() : undefined,
      startedFixture.status === 'fulfilled' ? startedFixture.value.close() : undefined,
    ]);
    throw (started.find((r): r is PromiseRejectedResult => r.status === 'rejected') as PromiseRejectedResult).reason;
  }
  const [cluster, emulator, fixture] = [startedCluster.value, startedEmulator.value, startedFixture.value];
  let front: HttpsFront | undefined;
  const stop = async () => {
    await cluster.stop().catch(() => undefined);
    await Promise.allSettled([emulator.stop(), fixture.close(), front?.close()]);
  };
  try {
    const cp = cluster.controlPlane;
    const localPort = (url: string) => Number(new URL(url).port);
    front = await startHttpsFront({ targetPort: localPort(fixture.mirrorUrl), ips: [FABRIC_ADDRESS, '127.0.0.1'] });
    const [mirror, ssm, secureMirror] = await Promise.all([
      cluster.expose(localPort(fixture.mirrorUrl), 'mirror'),
      cluster.expose(localPort(emulator.url), 'ssm'),
      cluster.expose(front.port, 'mirror-https'),
    ]);
    const mirrorUrl = `${mirror.url()}/mirror`;
    const mirrorHttpsUrl = `https://${secureMirror.host}:${secureMirror.port}/mirror`;
    const ssmUrl = ssm.url();
    const nodeNames = cluster.nodes.map((n) => n.name);
    const kubectlResult = (args: string[], input?: string) => cp.kubectl(args, input);
    const kubectl = async (args: string[], input?: string) => {
      const r = await cp.kubectl(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    // Test-only: where the stand-in agent finds the SSM emulator (the real agent would use Ssm.Endpoint).
    for (const node of cluster.nodes) await node.host.host.writeFileAtomic('/etc/amazon/ssm/stand-in-ssm-endpoint', ssmUrl, 0o644);

    await kubectl(['create', 'namespace', NAMESPACE]);
    // The mirror's packages are signed with throwaway keys: the config points spec.agent.source.signingKeys here.
    const keysFile = join(fixture.work, 'keys-configmap.json');
    writeFileSync(
      keysFile,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: SIGNING_KEYS_CONFIGMAP, namespace: NAMESPACE },
        data: { 'keys.asc': readFileSync(fixture.keyFile, 'utf8') },
      }),
    );
    await kubectl(['apply', '-f', keysFile]);
    const caFile = join(fixture.work, 'mirror-ca-configmap.json');
    writeFileSync(caFile, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: MIRROR_CA_CONFIGMAP, namespace: NAMESPACE }, data: { 'ca.crt': front.caPem } }));
    await kubectl(['apply', '-f', caFile]);

    const app = cluster.images.appImage;
    const colon = app.lastIndexOf(':');
    const chartValues = (): string[] => [
      '--set', `image.repository=${app.slice(0, colon)}`,
      '--set', `image.tag=${app.slice(colon + 1)}`,
      '--set', 'image.pullPolicy=Never',
      '--set', 'replicaCount=2',
      '--set', 'clusterName=ssm-e2e',
      '--set-json',
      `env=${JSON.stringify([
        { name: 'SSM_ENDPOINT', value: ssmUrl },
        { name: 'AWS_ACCESS_KEY_ID', value: emulator.credentials.accessKeyId },
        { name: 'AWS_SECRET_ACCESS_KEY', value: emulator.credentials.secretAccessKey },
        { name: 'SSM_SYNC_INTERVAL_SECONDS', value: '5' },
      ])}`,
    ];
    const helm = (args: string[]) => runHelm([...args, '--kubeconfig', cp.kubeconfigPath]);
    const inNode = (node: string, argv: string[]) => cluster.node(node).host.run(argv);
    return {
      cluster,
      emulator,
      fixture,
      mirrorUrl,
      mirrorHttpsUrl,
      ssmUrl,
      nodeNames,
      kubectl,
      kubectlResult,
      helm,
      chartValues,
      helmInstall: (extra = []) =>
        helm(['install', RELEASE, CHART_DIR, '--namespace', NAMESPACE, '--wait', '--timeout', '5m', ...chartValues(), ...extra]),
      host: {
        async agentVersion(node) {
          const r = await inNode(node, ['dpkg-query', '-W', '-f', '${Status} ${Version}', 'amazon-ssm-agent']);
          const m = /^install ok installed (\S+?)(?:-\d+)?$/.exec(r.stdout.trim());
          return r.code === 0 && m ? m[1] : undefined;
        },
        async serviceActive(node) {
          return (await inNode(node, ['systemctl', 'is-active', 'amazon-ssm-agent'])).stdout.trim() === 'active';
        },
        async registrations(node) {
          const r = await inNode(node, ['cat', STAND_IN_PATHS.registrationsLog]);
          return r.code === 0 ? r.stdout.split('\n').filter((l) => l.trim() !== '').length : 0;
        },
        async instanceId(node) {
          const r = await inNode(node, ['cat', STAND_IN_PATHS.registration]);
          return r.code === 0 ? /"ManagedInstanceID"\s*:\s*"(mi-[0-9a-f]+)"/.exec(r.stdout)?.[1] : undefined;
        },
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
