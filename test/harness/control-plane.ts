// A real, throwaway Kubernetes control plane for integration tests, in the spirit of controller-runtime's envtest:
// etcd + kube-apiserver (+ optionally kube-controller-manager, so DaemonSet status is real) on loopback ports, with
// a throwaway CA, a static admin token, RBAC authorization and a service-account signing key.
//
// Nothing here reaches the network: every server binds 127.0.0.1 (no kubelet runs, pods stay Pending), or, for the
// real-cluster harness (test/harness/cluster/), runs inside a network namespace of that harness's own.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiException, CoreV1Api, KubeConfig, type V1Node, type V1Taint } from '@kubernetes/client-node';
import YAML from 'yaml';
import {
  describeExit,
  killAllManagedProcessesSync,
  logTail,
  pidAlive,
  serverEnv,
  sleep,
  startProcess,
  type ManagedProcess,
} from './managed-process.ts';
import { createTestCa } from '../servers/test-ca.ts';
import { runSetupScriptOnce } from './setup-script.ts';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface AddNodeOptions {
  /** extra labels; kubernetes.io/hostname, kubernetes.io/os=linux and kubernetes.io/arch=amd64 are always set */
  readonly labels?: Readonly<Record<string, string>>;
  /** extra taints (the not-ready taint is removed when ready) */
  readonly taints?: readonly V1Taint[];
  /** report Ready=True and drop the not-ready taint, as kubelet + node-lifecycle-controller would; default true */
  readonly ready?: boolean;
}

export interface StaticUser {
  readonly name: string;
  readonly token: string;
  readonly groups?: readonly string[];
}

export interface ControlPlane {
  /** a kubeconfig file with admin credentials, usable by kubectl and by KubeConfig.loadFromFile */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** where kube-apiserver/etcd/helm live (from ensure-tools.sh) */
  readonly binDir: string;
  /** the throwaway directory holding certs, tokens, etcd data and (by default) logs; removed by stop() */
  readonly dir: string;
  /** where the server logs are written (etcd.log, kube-apiserver.log, kube-controller-manager.log) */
  readonly logDir: string;
  /** PEM of the CA that signed the serving certificate */
  readonly caPem: string;
  readonly caCertPath: string;
  /** bearer token of the admin user (group system:masters) */
  readonly adminToken: string;
  /** http://127.0.0.1:PORT of etcd */
  readonly etcdEndpoint: string;
  /** a fresh KubeConfig loaded from kubeconfigPath */
  kubeConfig(): KubeConfig;
  /** a KubeConfig for the same server with another bearer token (a ServiceAccount token, a static user's token) */
  kubeConfigForToken(token: string, userName?: string): KubeConfig;
  /**
   * Registers a Node object the way a kubelet would (no kubelet runs, pods stay Pending). A bare `createNode` is
   * not enough for DaemonSets: the TaintNodesByCondition admission plugin gives every new Node the
   * `node.kubernetes.io/not-ready:NoSchedule` taint, which only node-lifecycle-controller removes once the kubelet
   * reports Ready. With `ready` (default) this reports Ready=True and removes that taint.
   */
  addNode(name: string, opts?: AddNodeOptions): Promise<V1Node>;
  /** PIDs of the server processes currently running */
  pids(): number[];
  /** stop only kube-apiserver (etcd stays), for "apiserver restart" tests */
  stopApiServer(): Promise<void>;
  /** start it again on the SAME port with the same certs/tokens; resolves when /readyz is ok */
  startApiServer(): Promise<void>;
  /** runs the system kubectl with --kubeconfig (admin) */
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  /** stop everything, remove the temp dir; idempotent */
  stop(): Promise<void>;
}

/**
 * Where the servers run when real kubelets must reach them: a network namespace of the caller's (the cluster
 * harness's fabric), never the test process's own. Nothing is added to the machine's root namespace: this process
 * reaches the servers through loopback forwarders the caller provides.
 */
export interface ControlPlaneNetwork {
  /** the network namespace (ip netns name) the servers run in */
  readonly netns: string;
  /** this namespace's address that nodes and pods reach the API server on (advertised; in the serving cert) */
  readonly address: string;
  /** a loopback port of this process that leads to 127.0.0.1:port inside the namespace */
  forward(port: number): Promise<number>;
}

export interface StartControlPlaneOptions {
  /** also run kube-controller-manager (see KUBE_CONTROLLERS); default true */
  controllerManager?: boolean;
  /** the controllers kube-controller-manager runs; default KUBE_CONTROLLERS */
  controllers?: readonly string[];
  /** also run kube-scheduler (real kubelets need pods bound to them); default false */
  scheduler?: boolean;
  /** run the servers inside a network namespace (see ControlPlaneNetwork); default: loopback of this process */
  network?: ControlPlaneNetwork;
  /** where to write server logs; default: inside the temp dir (removed by stop()) */
  logDir?: string;
  /** extra static token users (not admins unless you put them in system:masters) */
  users?: readonly StaticUser[];
}

const HERE = dirname(fileURLToPath(import.meta.url));
const ENSURE_TOOLS = resolve(HERE, '..', 'tools', 'ensure-tools.sh');
const TEMP_PREFIX = 'ssm-cp-';
const READY_TIMEOUT_MS = 60_000;
const ETCD_TIMEOUT_MS = 30_000;
const CONTROLLERS_TIMEOUT_MS = 30_000;
const POLL_MS = 100;
const START_ATTEMPTS = 4;
const KUBECTL_TIMEOUT_MS = 120_000;
export const KUBE_CONTROLLERS: readonly string[] = [
  'daemonset-controller', // DaemonSet .status becomes real once Node objects exist
  'garbage-collector-controller', // ownerReferences cascade (pruning, deleting a config)
  'serviceaccount-controller', // the "default" ServiceAccount in every namespace (pod admission needs it)
  'serviceaccount-token-controller',
  'namespace-controller', // a deleted namespace really goes away instead of staying Terminating
];

/** What a cluster of real kubelets needs on top: Deployments, Services, node health, pods of deleted nodes. */
export const CLUSTER_CONTROLLERS: readonly string[] = [
  ...KUBE_CONTROLLERS,
  'deployment-controller',
  'replicaset-controller',
  'endpoints-controller',
  'endpointslice-controller',
  'node-lifecycle-controller', // removes the not-ready taint once a kubelet reports Ready; marks lost nodes
  'taint-eviction-controller',
  'pod-garbage-collector-controller', // pods bound to a deleted Node go away
  'root-ca-certificate-publisher-controller', // kube-root-ca.crt, which every projected token volume needs
  'disruption-controller', // the chart's PodDisruptionBudget gets a real status
];

/** Fixed ports inside a network namespace of our own (nothing else listens there). */
const NETNS_PORTS = { etcd: 2379, etcdPeer: 2380, apiserver: 6443 } as const;

/** Runs test/tools/ensure-tools.sh once per process (memoised; retried after a failure) and returns the bin folder. */
export function ensureTools(): Promise<string> {
  return runSetupScriptOnce(ENSURE_TOOLS);
}

/** A loopback TCP port that was free a moment ago (bind to 0, read, release). */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolvePromise(port) : reject(new Error('no port'))));
    });
  });
}

interface HttpResult {
  status: number;
  body: string;
}

function request(url: string, opts: { ca?: string; token?: string; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      { method: 'GET', headers, ca: opts.ca, agent: false, timeout: opts.timeoutMs ?? 2_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

class StartError extends Error {
  readonly addressInUse: boolean;
  constructor(message: string, addressInUse: boolean) {
    super(message);
    this.addressInUse = addressInUse;
  }
}

const ADDRESS_IN_USE = /address already in use|bind: address|EADDRINUSE/i;

/**
 * Polls `check` every POLL_MS until it returns true, the process exits, or timeoutMs passes.
 * Bounded both in time and in number of attempts.
 */
async function waitUntil(
  proc: ManagedProcess,
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const maxAttempts = Math.ceil(timeoutMs / POLL_MS) + 1;
  let lastError = '';
  for (let i = 0; i < maxAttempts && Date.now() < deadline; i++) {
    const st = proc.exitStatus();
    if (st) {
      const tail = logTail(proc.logPath);
      throw new StartError(
        `${proc.name} ${describeExit(st)} before ${what}; log tail (${proc.logPath}):\n${tail}`,
        ADDRESS_IN_USE.test(tail),
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(POLL_MS);
  }
  throw new StartError(
    `${proc.name}: ${what} not reached within ${timeoutMs} ms (last error: ${lastError || 'none'}); ` +
      `log tail (${proc.logPath}):\n${logTail(proc.logPath)}`,
    false,
  );
}

/** Removes temp dirs of earlier test processes that died without cleaning up (e.g. SIGKILL). */
function removeStaleDirs(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of entries) {
    const m = new RegExp(`^${TEMP_PREFIX}(\\d+)-`).exec(name);
    if (!m?.[1]) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try {
      rmSync(join(tmpdir(), name), { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // best effort
    }
  }
}

interface Pki {
  caCert: string;
  caPem: string;
  serverCert: string;
  serverKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  saKey: string;
  saPub: string;
}

/** A throwaway CA and kube-apiserver serving certificate (test/servers/test-ca.ts), and a service-account key. */
function makePki(dir: string, extraIps: readonly string[]): Pki {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const ca = createTestCa(pki, 'ssm-agent-operator-test-ca');
  const server = ca.issue({
    name: 'server',
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ips: ['127.0.0.1', '10.96.0.1', ...extraIps],
  });
  // kube-apiserver's client identity towards kubelets (kubectl logs/exec); system:masters passes their webhook authz.
  const kubeletClient = ca.issue({ name: 'kubelet-client', commonName: 'kube-apiserver-kubelet-client', organization: 'system:masters', client: true });
  // Service-account token signing key (ES256).
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'sec1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const saKey = join(pki, 'sa.key');
  const saPub = join(pki, 'sa.pub');
  writeFileSync(saKey, privateKey, { mode: 0o600 });
  writeFileSync(saPub, publicKey);
  return {
    caCert: ca.certFile,
    caPem: ca.cert,
    serverCert: server.certFile,
    serverKey: server.keyFile,
    kubeletClientCert: kubeletClient.certFile,
    kubeletClientKey: kubeletClient.keyFile,
    saKey,
    saPub,
  };
}

function kubeconfigYaml(server: string, caPem: string, userName: string, token: string): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'test',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: userName, user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: userName } }],
    'current-context': 'test',
  });
}

function csvField(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = await ensureTools();
  removeStaleDirs();
  const dir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const logDir = opts.logDir ? resolve(opts.logDir) : join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const bin = (name: string) => join(binDir, name);
  const network = opts.network;
  /** The command line of a server: inside the network namespace when there is one. */
  const server = (name: string, args: string[]): { command: string; args: string[] } =>
    network ? { command: 'ip', args: ['netns', 'exec', network.netns, bin(name), ...args] } : { command: bin(name), args };

  let etcd: ManagedProcess | undefined;
  let apiserver: ManagedProcess | undefined;
  let kcm: ManagedProcess | undefined;
  let scheduler: ManagedProcess | undefined;
  let stopping: Promise<void> | undefined;

  const stopAll = (): Promise<void> => {
    stopping ??= (async () => {
      const results = await Promise.allSettled([scheduler?.stop(5_000), kcm?.stop(5_000), apiserver?.stop(10_000)]);
      results.push(...(await Promise.allSettled([etcd?.stop(10_000)])));
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return stopping;
  };
  const onExit = () => {
    killAllManagedProcessesSync(); // before removing the files they write
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // best effort; the next run's removeStaleDirs() catches the rest
    }
  };
  process.once('exit', onExit);

  try {
    const pki = makePki(dir, network ? [network.address] : []);
    const adminToken = randomBytes(24).toString('hex');
    const tokenFile = join(dir, 'pki', 'tokens.csv');
    const users: StaticUser[] = [{ name: 'admin', token: adminToken, groups: ['system:masters'] }, ...(opts.users ?? [])];
    writeFileSync(
      tokenFile,
      users.map((u) => [u.token, u.name, `uid-${u.name}`, csvField((u.groups ?? []).join(','))].join(',')).join('\n') + '\n',
      { mode: 0o600 },
    );

    // --- etcd -------------------------------------------------------------------------------------------------
    let etcdPort = 0;
    let etcdEndpoint = '';
    for (let attempt = 1; ; attempt++) {
      etcdPort = network ? NETNS_PORTS.etcd : await freePort();
      const peerPort = network ? NETNS_PORTS.etcdPeer : await freePort();
      const peer = `http://127.0.0.1:${peerPort}`;
      const client = `http://127.0.0.1:${etcdPort}`;
      etcdEndpoint = network ? `http://127.0.0.1:${await network.forward(etcdPort)}` : client;
      const health = `${etcdEndpoint}/health`;
      etcd = startProcess({
        name: 'etcd',
        ...server('etcd', [
          '--name=default',
          `--data-dir=${join(dir, `etcd-${attempt}`)}`,
          `--listen-client-urls=${client}`,
          `--advertise-client-urls=${client}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=default=${peer}`,
          '--initial-cluster-state=new',
          '--unsafe-no-fsync', // throwaway data: durability buys nothing here, speed does
          '--log-level=warn',
        ]),
        logPath: join(logDir, 'etcd.log'),
        cwd: dir,
      });
      try {
        const proc = etcd;
        await waitUntil(proc, 'etcd /health', ETCD_TIMEOUT_MS, async () => {
          const r = await request(health);
          return r.status === 200 && /"health":\s*"true"/.test(r.body);
        });
        break;
      } catch (err) {
        await etcd.stop(2_000);
        if (!(err instanceof StartError && err.addressInUse && attempt < START_ATTEMPTS && !network)) throw err;
      }
    }
    const etcdInside = `http://127.0.0.1:${etcdPort}`;

    // --- kube-apiserver ----------------------------------------------------------------------------------------
    let port = 0;
    /** the port this process reaches kube-apiserver on (a forwarder's when the servers run in a namespace) */
    let localPort = 0;
    const apiserverArgs = (p: number): string[] => [
      `--etcd-servers=${etcdInside}`,
      ...(network
        ? [
            '--bind-address=0.0.0.0',
            `--advertise-address=${network.address}`,
            // real kubelets: the Node authorizer and NodeRestriction confine each to its own Node and pods
            '--authorization-mode=Node,RBAC',
            '--enable-admission-plugins=NodeRestriction',
            // kubectl logs/exec: dial kubelets by address (nodes have no DNS names), as a client they trust
            '--kubelet-preferred-address-types=InternalIP',
            `--kubelet-client-certificate=${pki.kubeletClientCert}`,
            `--kubelet-client-key=${pki.kubeletClientKey}`,
          ]
        : ['--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', '--authorization-mode=RBAC']),
      `--secure-port=${p}`,
      `--cert-dir=${join(dir, 'pki')}`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--token-auth-file=${tokenFile}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.96.0.0/24',
      // The operator's DaemonSet runs privileged pods; without this the apiserver rejects the pod template.
      '--allow-privileged=true',
      // Close open watches on SIGTERM instead of waiting for clients to hang up (a restart takes ~1 s, not 60).
      '--shutdown-watch-termination-grace-period=2s',
      '--profiling=false',
      '--v=1',
    ];
    const readyz = () =>
      waitUntil(apiserver as ManagedProcess, 'kube-apiserver /readyz', READY_TIMEOUT_MS, async () => {
        const r = await request(`https://127.0.0.1:${localPort}/readyz`, { ca: pki.caPem, token: adminToken });
        return r.status === 200;
      });
    /**
     * Starts kube-apiserver and waits for /readyz, retrying only when its port was taken: on a fresh port at first
     * start, on the same port at a restart (the old process's port may linger a moment).
     */
    const launchApiserver = async (samePort: boolean): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        if (network) {
          port = NETNS_PORTS.apiserver;
          localPort ||= await network.forward(port);
        } else if (!samePort) {
          port = await freePort();
          localPort = port;
        }
        apiserver = startProcess({
          name: 'kube-apiserver',
          ...server('kube-apiserver', apiserverArgs(port)),
          logPath: join(logDir, 'kube-apiserver.log'),
          cwd: dir,
        });
        try {
          await readyz();
          return;
        } catch (err) {
          await apiserver.stop(2_000);
          if (!(err instanceof StartError && err.addressInUse && attempt < START_ATTEMPTS)) throw err;
          if (samePort || network) await sleep(500 * attempt);
        }
      }
    };
    await launchApiserver(false);
    const apiServerUrl = `https://127.0.0.1:${localPort}`;
    /** how the other servers reach kube-apiserver: its own loopback inside the namespace, or ours */
    const insideUrl = `https://127.0.0.1:${port}`;
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(apiServerUrl, pki.caPem, 'admin', adminToken), { mode: 0o600 });

    // --- kube-controller-manager -------------------------------------------------------------------------------
    if (opts.controllerManager ?? true) {
      const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
      writeFileSync(kcmKubeconfig, kubeconfigYaml(insideUrl, pki.caPem, 'kube-controller-manager', adminToken), {
        mode: 0o600,
      });
      kcm = startProcess({
        name: 'kube-controller-manager',
        ...server('kube-controller-manager', [
          `--kubeconfig=${kcmKubeconfig}`,
          `--controllers=${(opts.controllers ?? KUBE_CONTROLLERS).join(',')}`,
          '--leader-elect=false',
          '--secure-port=0', // no serving endpoint at all
          `--service-account-private-key-file=${pki.saKey}`,
          `--root-ca-file=${pki.caCert}`,
          '--use-service-account-credentials=false',
          '--v=1',
        ]),
        logPath: join(logDir, 'kube-controller-manager.log'),
        cwd: dir,
      });
      // The serviceaccount controller creating "default" in "default" proves the controllers run (and pods in
      // the default namespace pass ServiceAccount admission from then on).
      const proc = kcm;
      await waitUntil(proc, 'serviceaccount default/default', CONTROLLERS_TIMEOUT_MS, async () => {
        const r = await request(`${apiServerUrl}/api/v1/namespaces/default/serviceaccounts/default`, {
          ca: pki.caPem,
          token: adminToken,
        });
        return r.status === 200;
      });
    }

    // --- kube-scheduler --------------------------------------------------------------------------------------------
    if (opts.scheduler) {
      const schedKubeconfig = join(dir, 'kube-scheduler.kubeconfig');
      writeFileSync(schedKubeconfig, kubeconfigYaml(insideUrl, pki.caPem, 'kube-scheduler', adminToken), { mode: 0o600 });
      scheduler = startProcess({
        name: 'kube-scheduler',
        ...server('kube-scheduler', [`--kubeconfig=${schedKubeconfig}`, '--leader-elect=false', '--secure-port=0', '--v=1']),
        logPath: join(logDir, 'kube-scheduler.log'),
        cwd: dir,
      });
    }

    const kubeConfigForToken = (token: string, userName = 'user'): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfigYaml(apiServerUrl, pki.caPem, userName, token));
      return kc;
    };

    const cp: ControlPlane = {
      kubeconfigPath,
      server: apiServerUrl,
      binDir,
      dir,
      logDir,
      caPem: pki.caPem,
      caCertPath: pki.caCert,
      adminToken,
      etcdEndpoint,
      kubeConfig() {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return kc;
      },
      kubeConfigForToken,
      addNode(name: string, nodeOpts: AddNodeOptions = {}) {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return registerNode(kc.makeApiClient(CoreV1Api), name, nodeOpts);
      },
      pids() {
        return [etcd, apiserver, kcm, scheduler]
          .filter((p): p is ManagedProcess => p !== undefined && p.exitStatus() === undefined && p.pid > 0)
          .map((p) => p.pid);
      },
      async stopApiServer() {
        await apiserver?.stop(10_000);
      },
      async startApiServer() {
        if (stopping) throw new Error('control plane is stopped');
        if (apiserver && apiserver.exitStatus() === undefined) return;
        // Same port, same certs, same token file: clients holding the old KubeConfig keep working.
        await launchApiserver(true);
      },
      kubectl(args: string[], input?: string): Promise<KubectlResult> {
        return runKubectl(bin('kubectl'), ['--kubeconfig', kubeconfigPath, '--cache-dir', join(dir, 'kubectl-cache'), ...args], input);
      },
      async stop() {
        await stopAll();
        process.removeListener('exit', onExit);
      },
    };
    return cp;
  } catch (err) {
    try {
      await stopAll();
    } finally {
      process.removeListener('exit', onExit);
    }
    throw err;
  }
}

const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';

async function registerNode(core: CoreV1Api, name: string, opts: AddNodeOptions): Promise<V1Node> {
  let node = await core.createNode({
    body: {
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          ...opts.labels,
        },
      },
      spec: { taints: opts.taints ? [...opts.taints] : [] },
    },
  });
  if (!(opts.ready ?? true)) return node;
  const now = new Date();
  // Bounded retries on write conflicts (nothing else should write the Node, but be safe).
  for (let attempt = 1; ; attempt++) {
    try {
      node = await core.replaceNodeStatus({
        name,
        body: {
          ...node,
          status: {
            ...node.status,
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'registered by the test harness (no kubelet runs)',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
            addresses: [
              { type: 'InternalIP', address: '127.0.0.1' },
              { type: 'Hostname', address: name },
            ],
            nodeInfo: {
              architecture: 'amd64',
              operatingSystem: 'linux',
              bootID: '',
              containerRuntimeVersion: 'containerd://test',
              kernelVersion: '',
              kubeProxyVersion: '',
              kubeletVersion: 'v1.35.4',
              machineID: '',
              osImage: 'Debian GNU/Linux (test harness)',
              systemUUID: '',
            },
            capacity: { cpu: '4', memory: '8Gi', pods: '110' },
            allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
          },
        },
      });
      const taints = (node.spec?.taints ?? []).filter((t) => t.key !== NOT_READY_TAINT);
      return await core.replaceNode({ name, body: { ...node, spec: { ...node.spec, taints } } });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409 && attempt < 5)) throw err;
      node = await core.readNode({ name });
    }
  }
}

/** The kubectl built with the cluster (same version as the API server); the one on PATH only without it. */
function runKubectl(kubectl: string, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(existsSync(kubectl) ? kubectl : 'kubectl', args, { stdio: ['pipe', 'pipe', 'pipe'], env: serverEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[harness] kubectl timed out after ${KUBECTL_TIMEOUT_MS} ms`;
      child.kill('SIGKILL');
    }, KUBECTL_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.on('error', () => {
      // kubectl may exit before reading stdin; the exit code tells the story
    });
    child.stdin.end(input ?? '');
  });
}
