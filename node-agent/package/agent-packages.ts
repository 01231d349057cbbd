// The install step's AgentPackages port (node-agent/steps/install.ts) over this directory: the node agent's
// configuration and host facts in, a verified package (or a reason) out.
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import type { EffectiveConfig } from '../config/effective.ts';
import type { HostFacts } from '../steps/facts.ts';
import type { AgentPackages, FetchResult } from '../steps/install.ts';
import type { ProxySettings } from './download.ts';
import { fetchVerifiedPackage } from './fetch.ts';
import { resolveLatestVersion } from './latest-version.ts';
import { insecureMirrorProblem } from '../../operator/api/mirror-policy.ts';
import { ReasonedError } from '../../operator/lib/errors.ts';

export interface AgentPackagesOptions {
  /** Where packages are downloaded to (the node agent passes a directory on the host's disk; default: the OS temp dir). */
  workDir?: string;
  /** For SSM_AGENT_SIGNING_KEY_FILE (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** CA certificates to trust instead of Node's roots for the bucket or mirror (tests; a mirror with a private CA). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Called with what the caller should surface (verify: None, unknown "latest"). */
  onWarning?(message: string): void;
}

/** The proxy for downloads, as this pass resolved it (config/effective.ts). Throws when the proxy Secret's values
 * are unusable: a download must not quietly go direct. */
function proxySettings(effective: EffectiveConfig): ProxySettings {
  const r = effective.proxy;
  if (!r.ok) throw r;
  return r.proxy;
}

class MirrorRefused extends ReasonedError<'InsecureMirror' | 'MirrorSecretInvalid' | 'MirrorCaInvalid'> {}

/**
 * The mirror as this configuration may use it: refused over plain http unless the package is pinned by its sha256
 * (the schema refuses it at apply time too); the Authorization header and CA bundle this pass resolved.
 */
function mirrorAccess(effective: EffectiveConfig): { authorization?: string; ca?: string[] } {
  const agent: NodeAgentConfig['agent'] = effective.config.agent;
  const insecure = insecureMirrorProblem({ version: agent.version, ...(agent.mirror ? { mirror: agent.mirror } : {}), ...(agent.sha256 ? { sha256: agent.sha256 } : {}) });
  if (insecure) throw new MirrorRefused('InsecureMirror', `spec.agent.source.mirror: ${insecure}; nothing was downloaded`);
  const access = effective.mirror;
  if (!access.ok) throw new MirrorRefused(access.reason, `${access.message}; nothing was downloaded`, { cause: access });
  return { ...(access.authorization ? { authorization: access.authorization } : {}), ...(access.ca ? { ca: access.ca } : {}) };
}

export function createAgentPackages(opts: AgentPackagesOptions = {}): AgentPackages {
  return {
    async latestVersion(effective: EffectiveConfig): Promise<string> {
      const { config } = effective;
      const access = mirrorAccess(effective);
      const r = await resolveLatestVersion({
        region: config.region,
        s3Host: config.endpoints.s3,
        proxy: proxySettings(effective),
        ...(config.agent.mirror ? { mirror: config.agent.mirror } : {}),
        ...access,
        ...(opts.ca ? { ca: opts.ca } : {}),
      });
      if (!r.ok) throw r;
      return r.version;
    },

    async fetch(effective: EffectiveConfig, facts: HostFacts, version: string, signal?: AbortSignal): Promise<FetchResult> {
      const { config } = effective;
      if (!facts.arch) return new ReasonedError('UnsupportedArchitecture', 'the host architecture is not amd64 or arm64 (or was not detected)');
      let access: { authorization?: string; ca?: string[] };
      try {
        access = mirrorAccess(effective);
      } catch (err) {
        if (err instanceof MirrorRefused) return err;
        throw err;
      }
      const r = await fetchVerifiedPackage({
        region: config.region,
        version,
        s3Host: config.endpoints.s3,
        format: facts.packageManager === 'rpm' ? 'rpm' : 'deb',
        arch: facts.arch,
        verify: config.agent.verify,
        proxy: proxySettings(effective),
        ...(config.agent.mirror ? { mirror: config.agent.mirror } : {}),
        ...(config.agent.sha256 ? { sha256: config.agent.sha256 } : {}),
        ...access,
        ...(opts.ca ? { ca: opts.ca } : {}),
        ...(opts.workDir ? { workDir: opts.workDir } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        ...(signal ? { signal } : {}),
      });
      if (!r.ok) return r;
      for (const w of r.warnings) opts.onWarning?.(w);
      return r;
    },
  };
}
