// Step 2: the agent package is installed at the desired version. The package is downloaded and verified first;
// a failed download or a bad signature leaves the host exactly as it was.
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HOST_COMMAND_MAX_SECONDS } from '../../operator/api/node-agent-config.ts';
import type { EffectiveConfig } from '../config/effective.ts';
import { backoffDelay } from '../../operator/lib/backoff.ts';
import type { Host } from '../host/host.ts';
import type { HostFacts } from './facts.ts';
import { installedAgentVersion } from './installed-version.ts';
import { NODE_AGENT_HOST_DIR } from './paths.ts';
import { identityProblem, readPackageIdentity } from '../package/identity.ts';
import { compareVersions, isVersion } from '../../operator/api/agent-version.ts';
import { must, StepError, type Step, type StepContext } from './step.ts';
import { reasonOf, type ReasonedError, type Result } from '../../operator/lib/errors.ts';

/** A verified package to install, or why there is none (its reason is the step's: SignatureInvalid, NotFound…). */
export type FetchResult = Result<{ path: string; cleanup(): Promise<void> }, string, ReasonedError>;

/** Where packages come from (the regional bucket or a mirror) and how they are verified: a port, for the step. */
export interface AgentPackages {
  /** The version "latest" stands for now. */
  latestVersion(config: EffectiveConfig, facts: HostFacts): Promise<string>;
  /** `signal`: the node agent is stopping; a download in flight is abandoned (nothing was installed yet). */
  fetch(config: EffectiveConfig, facts: HostFacts, version: string, signal?: AbortSignal): Promise<FetchResult>;
}

/** The version marker tells an install this operator made from one baked into the node image (Replace). */
const MARKER = `${NODE_AGENT_HOST_DIR}/installed-version`;

type Plan = { action: 'none' } | { action: 'install'; version: string; why: string };

/** What to do, given what is installed and what is wanted. Pure. */
export function installPlan(opts: { installed?: string; desired: string; existingInstall: 'Adopt' | 'Replace'; installedByUs: boolean }): Plan {
  const { installed, desired, existingInstall, installedByUs } = opts;
  if (!installed) return { action: 'install', version: desired, why: `install ${desired}` };
  if (installed !== desired) return { action: 'install', version: desired, why: `${installed} → ${desired}` };
  if (existingInstall === 'Replace' && !installedByUs) return { action: 'install', version: desired, why: `replace the image's ${installed}` };
  return { action: 'none' };
}

/** How the verified package reaches the host's disk (a port, so unit tests need no host filesystem). */
export interface PackageFiles {
  /** puts the downloaded package at hostPath (moved when it is on the same file system) */
  place(localPath: string, hostPath: string): Promise<void>;
  remove(hostPath: string): Promise<void>;
}

const hostFiles: PackageFiles = {
  place: async (from, to) => {
    await mkdir(dirname(to), { recursive: true });
    // The download is on the host's disk already (NODE_AGENT_DOWNLOAD_DIR): move it rather than write 30 MB again.
    // A download elsewhere (another file system) is copied.
    try {
      await rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(from, to);
    }
  },
  remove: (path) => rm(path, { force: true }),
};

export interface InstallStepOptions extends Partial<PackageFiles> {
  /** backoff after a failed download or install (default 30 s doubling to 30 min) */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export function createInstallStep(packages: AgentPackages, opts: InstallStepOptions = {}): Step {
  let latest: { version: string; at: number } | undefined;
  /** the highest version "latest" has resolved to (in this process) */
  let highestLatest: string | undefined;
  const files: PackageFiles = { place: opts.place ?? hostFiles.place, remove: opts.remove ?? hostFiles.remove };
  // A failed install (a held dpkg lock, a bad package) waits before the next attempt: without it every pass would
  // download ~30 MB again.
  let failures = 0;
  let nextAttemptAt = 0;
  let last: StepError | undefined;

  async function desiredVersion(ctx: StepContext): Promise<string> {
    const v = ctx.config.agent.version;
    if (v !== 'latest') return v;
    // "latest" is looked up at most hourly: the bucket is not polled on every pass.
    if (!latest || ctx.now() - latest.at > 3_600_000) {
      try {
        latest = { version: await packages.latestVersion(ctx.effective, ctx.facts), at: ctx.now() };
      } catch (err) {
        if (ctx.facts.installedVersion) return ctx.facts.installedVersion; // keep what runs until the lookup works
        throw new StepError('VersionLookupFailed', `cannot find out which version "latest" is: ${(err as Error).message}`, { cause: err });
      }
    }
    const installed = ctx.facts.installedVersion;
    // A latest/VERSION older than what runs (or than what latest said before) is a rolled-back or replayed file:
    // following it would downgrade the fleet. Pin agent.version to downgrade on purpose.
    const floor = [installed, highestLatest].filter((v): v is string => v !== undefined && isVersion(v));
    const above = floor.find((v) => isVersion(latest?.version ?? '') && compareVersions(latest?.version ?? '', v) < 0);
    if (above) {
      throw new StepError('LatestWentBackwards', `"latest" now says ${latest.version}, older than ${above} (${above === installed ? 'installed' : 'what latest said before'}): not downgrading; pin spec.agent.version to ${latest.version} to downgrade on purpose`);
    }
    if (isVersion(latest.version) && (!highestLatest || compareVersions(latest.version, highestLatest) > 0)) highestLatest = latest.version;
    return latest.version;
  }

  async function plan(ctx: StepContext): Promise<Plan> {
    const installed = await installedAgentVersion(ctx.host, ctx.facts);
    ctx.facts.installedVersion = installed;
    const desired = await desiredVersion(ctx);
    ctx.facts.desiredVersion = desired;
    const marker = (await ctx.host.readFile(MARKER))?.toString('utf8').trim();
    return installPlan({ installed, desired, existingInstall: ctx.config.agent.existingInstall, installedByUs: marker === installed });
  }

  async function install(host: Host, ctx: StepContext, localPath: string, version: string): Promise<void> {
    const format = ctx.facts.packageManager === 'rpm' ? 'rpm' : 'deb';
    const onHost = `${NODE_AGENT_HOST_DIR}/amazon-ssm-agent-${version}.${format}`;
    await files.place(localPath, host.hostPath(onHost));
    try {
      const identity = await readPackageIdentity(host, format, onHost);
      if (!identity) throw new StepError('PackageUnreadable', `the downloaded ${format} package cannot be read by ${format === 'deb' ? 'dpkg-deb' : 'rpm'}; nothing was installed`);
      const problem = ctx.facts.arch ? identityProblem(identity, { version, arch: ctx.facts.arch, format }) : undefined;
      if (problem) throw new StepError('PackageIdentityMismatch', problem);
      if (ctx.facts.snapAgent) await must(host, ['snap', 'remove', 'amazon-ssm-agent'], 'SnapRemoveFailed');
      if (format === 'deb') await must(host, ['dpkg', '-i', onHost], 'InstallFailed', { timeoutMs: HOST_COMMAND_MAX_SECONDS * 1000 });
      else await must(host, ['rpm', '-U', '--oldpackage', '--replacepkgs', onHost], 'InstallFailed', { timeoutMs: HOST_COMMAND_MAX_SECONDS * 1000 });
    } finally {
      await files.remove(host.hostPath(onHost));
    }
    ctx.facts.snapAgent = false;
  }

  return {
    name: 'install',
    async check(ctx) {
      const p = await plan(ctx);
      if (p.action === 'none') {
        failures = 0;
        last = undefined;
        return { needed: false };
      }
      if (last && ctx.now() < nextAttemptAt) {
        throw new StepError(last.reason, `${last.message} (next attempt in ${Math.ceil((nextAttemptAt - ctx.now()) / 1000)} s)`, { cause: last });
      }
      return { needed: true, what: p.why };
    },
    async apply(ctx) {
      const p = await plan(ctx);
      if (p.action === 'none') return;
      try {
        const fetched = await packages.fetch(ctx.effective, ctx.facts, p.version, ctx.stopping);
        if (!fetched.ok) throw new StepError(fetched.reason, fetched.message, { cause: fetched });
        try {
          // Stopping: leave the host as it is rather than start a dpkg the pod might not see finish.
          if (ctx.stopping?.aborted) throw new StepError('Stopping', 'the node agent is stopping; the install waits for the next pod');
          await install(ctx.host, ctx, fetched.path, p.version);
        } finally {
          await fetched.cleanup();
        }
        const now = await installedAgentVersion(ctx.host, ctx.facts);
        ctx.facts.installedVersion = now;
        if (now !== p.version) throw new StepError('InstallFailed', `after installing ${p.version} the package manager reports ${now ?? 'nothing'}`);
        await ctx.host.writeFileAtomic(MARKER, `${now}\n`, 0o644);
        failures = 0;
        last = undefined;
      } catch (err) {
        // A stop is not a failure of the host: no backoff for the next pod.
        if (err instanceof StepError && err.reason === 'Stopping') throw err;
        failures++;
        nextAttemptAt = ctx.now() + backoffDelay(failures, opts.baseDelayMs ?? 30_000, opts.maxDelayMs ?? 30 * 60_000);
        // A failure with a reason of its own (the proxy Secret, the mirror's access) keeps it; anything else is the install's.
        last = err instanceof StepError ? err : new StepError(reasonOf(err, 'InstallFailed'), err instanceof Error ? err.message : String(err), { cause: err });
        throw last;
      }
    },
  };
}
