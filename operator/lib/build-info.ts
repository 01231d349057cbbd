// The `*_build_info` gauge of a process (value 1; what runs is in the labels), as Prometheus' own exporters do, so
// a dashboard or alert can join on it and a fleet with mixed versions shows them.
import { readFileSync } from 'node:fs';
import { Gauge, type Registry } from './prom.ts';

export interface BuildInfo {
  version: string;
  /** the source commit, from the image (Dockerfile ARG REVISION → SSM_AGENT_OPERATOR_REVISION); "unknown" if not known */
  commit: string;
  node_version: string;
}

/** What this process runs: the package version, the commit the image was built from, and Node's version. */
export function buildInfo(env: Record<string, string | undefined> = process.env): BuildInfo {
  let version = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') version = pkg.version;
  } catch {
    // no package.json beside the sources: the version stays unknown
  }
  const commit = env.SSM_AGENT_OPERATOR_REVISION?.trim();
  return { version, commit: commit && /^[0-9a-zA-Z._-]{1,64}$/.test(commit) ? commit : 'unknown', node_version: process.version };
}

export function registerBuildInfo(registry: Registry, name: 'ssm_operator_build_info' | 'ssm_node_agent_build_info', what: string, info: BuildInfo = buildInfo()): void {
  const gauge = new Gauge({
    name,
    help: `Always 1: the ${what}'s version, the source commit it was built from ("unknown" if not known) and its Node.js version.`,
    labelNames: ['version', 'commit', 'node_version'] as const,
    registers: [registry],
  });
  gauge.set(info, 1);
}
