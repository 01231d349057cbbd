// Parses /etc/os-release and recognises the OSes the agent cannot be installed on. Pure.

export interface OsRelease {
  id: string;
  versionId: string;
  prettyName: string;
  idLike: string[];
  variantId: string;
}

export function parseOsRelease(text: string): OsRelease {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2] ?? '';
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    values[m[1] ?? ''] = v.replace(/\\(["$`\\])/g, '$1');
  }
  return {
    id: (values.ID ?? 'linux').toLowerCase(),
    versionId: values.VERSION_ID ?? '',
    prettyName: values.PRETTY_NAME ?? values.NAME ?? 'Linux',
    idLike: (values.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    variantId: (values.VARIANT_ID ?? '').toLowerCase(),
  };
}

const IMMUTABLE: Record<string, string> = {
  bottlerocket: 'Bottlerocket runs the SSM agent in its control container: enable it with `settings.host-containers.control.enabled = true` instead of this operator.',
  talos: 'Talos Linux has no shell or package manager: the SSM agent cannot be installed on it; use Talos’ own API for host access.',
  flatcar: 'Flatcar Container Linux has a read-only /usr: run the agent as a systemd-sysext or from a container image instead.',
  fedora_coreos: 'Fedora CoreOS is image-based (rpm-ostree): layer the agent into the image instead.',
  rhcos: 'Red Hat CoreOS is managed by the Machine Config Operator: install the agent through a MachineConfig instead.',
};

/** Advice when the OS cannot take a package; undefined when it can. */
export function immutableOsAdvice(os: OsRelease, ostreeBooted: boolean): string | undefined {
  const key = os.id.replace(/-/g, '_');
  if (IMMUTABLE[key]) return IMMUTABLE[key];
  if (ostreeBooted) return `${os.prettyName} is an rpm-ostree (image-based) system: layer the agent into the image instead.`;
  return undefined;
}

export function debArch(unameMachine: string): 'amd64' | 'arm64' | undefined {
  const m = unameMachine.trim();
  if (m === 'x86_64' || m === 'amd64') return 'amd64';
  if (m === 'aarch64' || m === 'arm64') return 'arm64';
  return undefined;
}
