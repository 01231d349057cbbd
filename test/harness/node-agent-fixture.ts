// What the node agent needs around it on a test host, shared by the node-agent integration test and the node-agent
// benchmark: a work directory, a stand-in .deb mirror on loopback (the regional bucket's layout, each package
// signed with a throwaway key), the activation Secret as a directory, the rendered node-agent configuration, and
// the node-agent process's environment. The systemd host itself comes from systemd-host.ts.
import { createHash } from 'node:crypto';
import { NODE_AGENT_RUNTIME_ENV, NODE_AGENT_V8_FLAGS } from '../../operator/manifests/node-agent-runtime.ts';
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import type { SsmAgentConfigSpec } from '../../operator/api/types.ts';
import { renderNodeAgentConfig } from '../../operator/manifests/node-agent-config.ts';
import { sampleConfig } from '../fixtures/configs.ts';
import { freePort } from './control-plane.ts';
import { startProcess, type ManagedProcess } from './managed-process.ts';
import { REPO } from './operator-env.ts';
import { buildStandInDeb, signStandIn, STAND_IN_ACTIVATION_CODES } from './stand-in-agent.ts';

export const TEST_ACTIVATION_ID = '11111111-2222-3333-4444-555555555555';
/** Nothing listens here: the host is not an EC2 instance. */
export const NO_IMDS = 'http://127.0.0.1:9';
/** The node agent's /metrics shows a finished pass. */
export const PASS_DONE = /^ssm_node_agent_last_pass_timestamp_seconds [1-9]/m;

export interface FixtureConfigOptions {
  version: string;
  sudo?: boolean;
  httpsProxy?: string;
  action?: 'Manage' | 'Uninstall';
  endpoints?: SsmAgentConfigSpec['endpoints'];
  connectivity?: SsmAgentConfigSpec['connectivity'];
  /** metadata.name of the SsmAgentConfig; default node-agent-test */
  name?: string;
}

export interface NodeAgentProcessOptions {
  /** PID 1 of the host the node agent acts on (SystemdHost.pid) */
  hostPid: number;
  configFile: string;
  metricsPort: number;
  passIntervalSeconds: number;
  /** an extra CA bundle for the probes */
  probeCaFile?: string;
  nodeName?: string;
  /** default warn */
  logLevel?: string;
  /** more environment (the fleet channel's FLEET_* variables) */
  extraEnv?: Record<string, string>;
  /** NODE_COMPILE_CACHE, warmed as the image's is (operator/image/warm-compile-cache.ts); default none */
  compileCacheDir?: string;
}

export interface NodeAgentFixture {
  /** the work directory; removed by close() */
  readonly work: string;
  /** the mounted activation Secret (activationId, activationCode) */
  readonly activationDir: string;
  /** base URL of the loopback mirror (spec.agent.source.mirror) */
  readonly mirrorUrl: string;
  /** the throwaway signing keys (SSM_AGENT_SIGNING_KEY_FILE) */
  readonly keyFile: string;
  /** the mirror's .deb of one version (its signature is next to it, .sig) */
  debPath(version: string): string;
  /** sha256 of that .deb: the loopback mirror is plain http, which a config may use only with the package pinned */
  sha256(version: string): string;
  setActivationCode(code: string): void;
  /** reads one key of a mounted Secret directory, like the node agent does */
  readSecret(dir: string, key: string): Promise<string | undefined>;
  /** the node agent's configuration as the operator renders it, with the activation directory of this fixture */
  config(opts: FixtureConfigOptions): NodeAgentConfig;
  /** the node-agent process's environment (nothing else of this process's environment but PATH) */
  nodeAgentEnv(opts: NodeAgentProcessOptions): NodeJS.ProcessEnv;
  /** `node node-agent/main.ts` as a managed child process */
  startNodeAgent(opts: NodeAgentProcessOptions & { name: string; logPath: string }): ManagedProcess;
  /** stops the mirror and removes the work directory; idempotent */
  close(): Promise<void>;
}

export interface NodeAgentFixtureOptions {
  /** agent versions on the mirror (each a stand-in .deb, signed with its own throwaway key) */
  versions: readonly string[];
  /** temp directory name prefix */
  tempPrefix?: string;
  /** MiB of padding in each package, so it is as large as the real one (~30 MB); default 0 */
  padMiB?: number;
}

/** GET /metrics of a node agent on loopback (bounded). */
export async function nodeAgentMetrics(port: number, timeoutMs = 5_000): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  return res.text();
}

export async function createNodeAgentFixture(opts: NodeAgentFixtureOptions): Promise<NodeAgentFixture> {
  const work = mkdtempSync(join(tmpdir(), opts.tempPrefix ?? 'ssm-node-agent-test-'));
  const activationDir = join(work, 'activation');
  const mirrorDir = join(work, 'mirror');
  const keyFile = join(work, 'signing-keys.asc');
  const debPath = (version: string) => join(mirrorDir, version, 'debian_amd64', 'amazon-ssm-agent.deb');
  const setActivationCode = (code: string) => writeFileSync(join(activationDir, 'activationCode'), code);
  // Streamed: a 32 MiB package read whole would block this process's event loop, which also carries the cluster's
  // forwarders, long enough to reset other downloads.
  const mirror = createServer((req, res) => {
    const path = join(mirrorDir, decodeURIComponent((req.url ?? '/').replace(/^\/mirror\//, '')));
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': size });
    createReadStream(path).on('error', () => res.destroy()).pipe(res);
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (mirror.listening) {
        mirror.closeAllConnections();
        await new Promise<void>((r) => mirror.close(() => r()));
      }
      rmSync(work, { recursive: true, force: true });
    })();
    return closing;
  };

  let mirrorUrl: string;
  const shas = new Map<string, string>();
  const sha256 = (version: string): string => {
    const sha = shas.get(version);
    if (!sha) throw new Error(`no package ${version} on the fixture's mirror`);
    return sha;
  };
  try {
    mkdirSync(activationDir);
    writeFileSync(join(activationDir, 'activationId'), TEST_ACTIVATION_ID);
    setActivationCode(STAND_IN_ACTIVATION_CODES.ok);
    // A mirror with the bucket's layout: {version}/debian_amd64/amazon-ssm-agent.deb(.sig)
    const keys: string[] = [];
    for (const version of opts.versions) {
      mkdirSync(join(mirrorDir, version, 'debian_amd64'), { recursive: true });
      const deb = await buildStandInDeb({ version, outDir: join(work, 'build', version), ...(opts.padMiB ? { padMiB: opts.padMiB } : {}) });
      copyFileSync(deb, debPath(version));
      shas.set(version, createHash('sha256').update(readFileSync(debPath(version))).digest('hex'));
      keys.push(await signStandIn(debPath(version)));
    }
    writeFileSync(keyFile, keys.join('\n'));
    const port = await freePort();
    await new Promise<void>((resolve, reject) => {
      mirror.once('error', reject);
      mirror.listen(port, '127.0.0.1', () => {
        mirror.off('error', reject);
        resolve();
      });
    });
    mirrorUrl = `http://127.0.0.1:${port}/mirror`;
  } catch (err) {
    await close();
    throw err;
  }

  const nodeAgentEnv = (p: NodeAgentProcessOptions): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    // The pods' allocator setting (NODE_AGENT_RUNTIME_ENV), as their V8 flags below.
    ...Object.fromEntries(NODE_AGENT_RUNTIME_ENV.map((e) => [e.name, e.value])),
    HOST_PID: String(p.hostPid),
    CONFIG_FILE: p.configFile,
    METRICS_PORT: String(p.metricsPort),
    PASS_INTERVAL_SECONDS: String(p.passIntervalSeconds),
    IMDS_ENDPOINT: NO_IMDS,
    SSM_AGENT_SIGNING_KEY_FILE: keyFile,
    NODE_NAME: p.nodeName ?? 'test-node',
    LOG_LEVEL: p.logLevel ?? 'warn',
    ...(p.probeCaFile ? { PROBE_CA_FILE: p.probeCaFile } : {}),
    ...(p.compileCacheDir ? { NODE_COMPILE_CACHE: p.compileCacheDir } : {}),
    ...p.extraEnv,
  });

  return {
    work,
    activationDir,
    mirrorUrl,
    keyFile,
    debPath,
    sha256,
    setActivationCode,
    readSecret: (dir, key) => {
      try {
        return Promise.resolve(readFileSync(join(dir, key), 'utf8'));
      } catch {
        return Promise.resolve(undefined);
      }
    },
    config(o) {
      const rendered = renderNodeAgentConfig(
        sampleConfig(o.name ?? 'node-agent-test', {
          region: 'eu-west-1',
          // Pinned by its sha256 as well as signed: the mirror is plain http, which the node agent refuses otherwise.
          // A version the mirror lacks gets a sha256 no package has (its download fails first, with NotFound).
          agent: { version: o.version, source: { mirror: mirrorUrl }, verify: 'Signature', selfUpdate: false, existingInstall: 'Adopt', sha256: shas.get(o.version) ?? '0'.repeat(64) },
          registration: { mode: 'Hybrid', activation: { secretRef: { name: 'act' } }, deregisterOnNodeDelete: true },
          ssmUser: { create: true, sudo: o.sudo ?? true },
          ...(o.httpsProxy ? { proxy: { httpsProxy: o.httpsProxy, noProxy: ['.corp'] } } : {}),
          ...(o.endpoints ? { endpoints: o.endpoints } : {}),
          ...(o.connectivity ? { connectivity: o.connectivity } : {}),
        }),
      );
      // The Secret is mounted at a fixed path in the pod; here it is a temporary directory.
      return { ...rendered, registration: { ...rendered.registration, activationDir }, action: o.action ?? 'Manage' };
    },
    nodeAgentEnv,
    startNodeAgent: (p) =>
      startProcess({
        name: p.name,
        command: process.execPath,
        // The pods' V8 flags: tests and benchmarks run the node agent as the DaemonSet does.
        args: [...NODE_AGENT_V8_FLAGS, join(REPO, 'node-agent', 'main.ts')],
        logPath: p.logPath,
        cwd: REPO,
        env: nodeAgentEnv(p),
      }),
    close,
  };
}
