// The install step's AgentPackages port (node-agent/steps/install.ts) over this directory: the node agent's
// configuration and host facts in, a verified package (or a reason) out.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import type { HostFacts } from '../steps/facts.ts';
import type { AgentPackages, FetchResult } from '../steps/install.ts';
import type { ProxySettings } from './download.ts';
import { fetchVerifiedPackage } from './fetch.ts';
import { effectiveProxy } from '../proxy/effective-proxy.ts';
import { resolveLatestVersion } from './latest-version.ts';
import { basicAuthorization, insecureMirrorProblem, mirrorCredentials } from '../../operator/api/mirror-policy.ts';
import { parseCaBundle } from '../../operator/api/ca-bundle.ts';

export interface AgentPackagesOptions {
  /** Where packages are downloaded to (the node agent passes a directory on the host's disk; default: the OS temp dir). */
  workDir?: string;
  /** For SSM_AGENT_SIGNING_KEY_FILE (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Reads one key of a mounted Secret (default: the file dir/key). */
  readSecret?(dir: string, key: string): Promise<string | undefined>;
  /** CA certificates to trust instead of Node's roots for the bucket or mirror (tests; a mirror with a private CA). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Called with what the caller should surface (verify: None, unknown "latest"). */
  onWarning?(message: string): void;
}

async function readSecretFile(dir: string, key: string): Promise<string | undefined> {
  return readFile(join(dir, key), 'utf8').catch(() => undefined);
}

/** The proxy for downloads: inline URLs, or the ones in the mounted proxy Secret (they carry credentials).
 * Throws when the Secret's values are unusable (effective-proxy.ts): a download must not quietly go direct. */
export async function proxySettings(proxy: NodeAgentConfig['proxy'], readSecret = readSecretFile): Promise<ProxySettings> {
  const r = await effectiveProxy(proxy, readSecret);
  if (!r.ok) throw new Error(r.message);
  return r.proxy;
}

class MirrorRefused extends Error {
  readonly reason: 'InsecureMirror' | 'MirrorSecretInvalid' | 'MirrorCaInvalid';
  constructor(reason: 'InsecureMirror' | 'MirrorSecretInvalid' | 'MirrorCaInvalid', message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * The mirror as this configuration may use it: refused over plain http unless the package is pinned by its sha256
 * (the schema refuses it at apply time too), and the Authorization header from the mounted mirror Secret.
 */
async function mirrorAccess(agent: NodeAgentConfig['agent'], readSecret: (dir: string, key: string) => Promise<string | undefined>): Promise<{ authorization?: string; ca?: string[] }> {
  const insecure = insecureMirrorProblem({ version: agent.version, ...(agent.mirror ? { mirror: agent.mirror } : {}), ...(agent.sha256 ? { sha256: agent.sha256 } : {}) });
  if (insecure) throw new MirrorRefused('InsecureMirror', `spec.agent.source.mirror: ${insecure}; nothing was downloaded`);
  // Read on every use, like the Secrets: the file is the mounted ConfigMap of this pod's revision.
  let ca: string[] | undefined;
  if (agent.mirror && agent.mirrorCaFile) {
    const bundle = parseCaBundle(await readFile(agent.mirrorCaFile, 'utf8').catch(() => undefined), agent.mirrorCaName ?? 'spec.agent.source.caBundle');
    if (!bundle.ok) throw new MirrorRefused('MirrorCaInvalid', `spec.agent.source.caBundle: ${bundle.message}; nothing was downloaded`);
    ca = bundle.pem;
  }
  if (!agent.mirror || !agent.mirrorSecretDir) return ca ? { ca } : {};
  const name = agent.mirrorSecretName ?? 'of spec.agent.source.mirrorSecretRef';
  const creds = mirrorCredentials(await readSecret(agent.mirrorSecretDir, 'username'), await readSecret(agent.mirrorSecretDir, 'password'), name);
  if (!creds.ok) throw new MirrorRefused('MirrorSecretInvalid', `${creds.message}; nothing was downloaded`);
  return { authorization: basicAuthorization(creds.credentials), ...(ca ? { ca } : {}) };
}

export function createAgentPackages(opts: AgentPackagesOptions = {}): AgentPackages {
  const readSecret = opts.readSecret ?? readSecretFile;
  return {
    async latestVersion(config: NodeAgentConfig): Promise<string> {
      const access = await mirrorAccess(config.agent, readSecret);
      const r = await resolveLatestVersion({
        region: config.region,
        s3Host: config.endpoints.s3,
        proxy: await proxySettings(config.proxy, readSecret),
        ...(config.agent.mirror ? { mirror: config.agent.mirror } : {}),
        ...access,
        ...(opts.ca ? { ca: opts.ca } : {}),
      });
      if (!r.ok) throw new Error(r.message);
      return r.version;
    },

    async fetch(config: NodeAgentConfig, facts: HostFacts, version: string, signal?: AbortSignal): Promise<FetchResult> {
      if (!facts.arch) return { ok: false, reason: 'UnsupportedArchitecture', message: 'the host architecture is not amd64 or arm64 (or was not detected)' };
      let access: { authorization?: string; ca?: string[] };
      try {
        access = await mirrorAccess(config.agent, readSecret);
      } catch (err) {
        if (err instanceof MirrorRefused) return { ok: false, reason: err.reason, message: err.message };
        throw err;
      }
      const r = await fetchVerifiedPackage({
        region: config.region,
        version,
        s3Host: config.endpoints.s3,
        format: facts.packageManager === 'rpm' ? 'rpm' : 'deb',
        arch: facts.arch,
        verify: config.agent.verify,
        proxy: await proxySettings(config.proxy, readSecret),
        ...(config.agent.mirror ? { mirror: config.agent.mirror } : {}),
        ...(config.agent.sha256 ? { sha256: config.agent.sha256 } : {}),
        ...access,
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.workDir ? { workDir: opts.workDir } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        ...(signal ? { signal } : {}),
      });
      if (!r.ok) return { ok: false, reason: r.reason, message: r.message };
      for (const w of r.warnings) opts.onWarning?.(w);
      return r;
    },
  };
}
