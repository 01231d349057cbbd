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
    // One version a line: after an interrupted upgrade rpm lists two, which must not be read as one.
    const r = await host.run(['rpm', '-q', '--qf', '%{VERSION}\n', 'amazon-ssm-agent']);
    const versions = [...new Set(r.stdout.split('\n').map((l) => l.trim()).filter(Boolean))];
    // Two versions never equal the desired one, so the install step replaces them with one.
    return r.code === 0 && versions.length > 0 ? versions.join(' and ') : undefined;
  }
  return undefined;
}
