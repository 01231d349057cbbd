// The package's own identity, read from the file before it is installed: a mirror (or anyone between it and the
// host) can serve a validly signed older or foreign package under the path of the one asked for, and a signature
// only proves AWS built it. Name, version and architecture must be the ones asked for.
import type { Host } from '../host/host.ts';
import { upstreamVersion } from '../steps/installed-version.ts';

export interface PackageIdentity {
  name: string;
  version: string;
  arch: string;
}

const RPM_ARCH: Record<'amd64' | 'arm64', string> = { amd64: 'x86_64', arm64: 'aarch64' };

/** Why the package is not the one asked for, or undefined. Pure. */
export function identityProblem(got: PackageIdentity, want: { version: string; arch: 'amd64' | 'arm64'; format: 'deb' | 'rpm' }): string | undefined {
  const arch = want.format === 'rpm' ? RPM_ARCH[want.arch] : want.arch;
  const problems: string[] = [];
  if (got.name !== 'amazon-ssm-agent') problems.push(`its name is ${JSON.stringify(got.name)}, not amazon-ssm-agent`);
  if (upstreamVersion(got.version) !== want.version) problems.push(`its version is ${JSON.stringify(got.version)}, not ${want.version}`);
  if (got.arch !== arch) problems.push(`its architecture is ${JSON.stringify(got.arch)}, not ${arch}`);
  return problems.length === 0 ? undefined : `the downloaded package is not the one asked for: ${problems.join('; ')} (the mirror serves another package under this path); nothing was installed`;
}

/** Reads name, version and architecture from a package file on the host (dpkg-deb -f / rpm -qp). */
export async function readPackageIdentity(host: Host, format: 'deb' | 'rpm', hostPath: string): Promise<PackageIdentity | undefined> {
  const r =
    format === 'deb'
      ? await host.run(['dpkg-deb', '-f', hostPath, 'Package', 'Version', 'Architecture'])
      : await host.run(['rpm', '-qp', '--nosignature', '--qf', 'Package: %{NAME}\nVersion: %{VERSION}\nArchitecture: %{ARCH}\n', hostPath]);
  if (r.code !== 0) return undefined;
  const field = (name: string) => new RegExp(`^${name}: *(.*)$`, 'm').exec(r.stdout)?.[1]?.trim() ?? '';
  return { name: field('Package'), version: field('Version'), arch: field('Architecture') };
}
