// The agent version the host's package manager has installed, if any.
import type { Host } from '../host/host.ts';
import type { HostFacts } from './facts.ts';

/** "3.3.1142.0-1" (Debian revision) and "3.3.1142.0" both mean 3.3.1142.0. Pure. */
export function upstreamVersion(v: string): string {
  return v.trim().replace(/-[^-]*$/, (rev) => (/^-\d+$/.test(rev) ? '' : rev));
}

export async function installedAgentVersion(host: Host, facts: HostFacts): Promise<string | undefined> {
  if (facts.snapAgent) {
    const r = await host.run(['snap', 'list', 'amazon-ssm-agent']);
    const line = r.stdout.split('\n').find((l) => l.startsWith('amazon-ssm-agent'));
    return line?.split(/\s+/)[1];
  }
  if (facts.packageManager === 'dpkg') {
    const r = await host.run(['dpkg-query', '-W', '-f=${Status}\t${Version}', 'amazon-ssm-agent']);
    const [status, version] = r.stdout.split('\t');
    return r.code === 0 && status === 'install ok installed' && version ? upstreamVersion(version) : undefined;
  }
  if (facts.packageManager === 'rpm') {
    const r = await host.run(['rpm', '-q', '--qf', '%{VERSION}', 'amazon-ssm-agent']);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }
  return undefined;
}
