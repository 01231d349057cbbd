// Step 1: what host is this? OS, package manager, architecture, immutable OSes, EC2 or not.
import type { Host } from '../host/host.ts';
import type { HostFacts } from './facts.ts';
import { detectEc2 } from './imds.ts';
import { DMI_FILES, ec2HardwareFromDmi } from './dmi.ts';
import { debArch, immutableOsAdvice, parseOsRelease } from './os-release.ts';
import { detectNodeadm } from './nodeadm.ts';

async function has(host: Host, command: string): Promise<boolean> {
  const r = await host.run(['sh', '-c', `command -v ${command}`]);
  return r.code === 0;
}

export async function detectHost(host: Host, imdsEndpoint: string): Promise<HostFacts> {
  const facts: HostFacts = {};
  const osText = (await host.readFile('/etc/os-release')) ?? (await host.readFile('/usr/lib/os-release'));
  const os = parseOsRelease(osText?.toString('utf8') ?? '');
  facts.os = { id: os.id, versionId: os.versionId, prettyName: os.prettyName, idLike: os.idLike };
  const advice = immutableOsAdvice(os, (await host.stat('/run/ostree-booted')) !== undefined);
  if (advice) facts.unsupported = { reason: 'ImmutableOS', message: advice };
  const uname = await host.run(['uname', '-m']);
  facts.arch = debArch(uname.stdout);
  if (!facts.arch && !facts.unsupported) facts.unsupported = { reason: 'UnsupportedArchitecture', message: `the agent is published for x86_64 and aarch64, not ${uname.stdout.trim()}` };
  if (await has(host, 'dpkg')) facts.packageManager = 'dpkg';
  else if (await has(host, 'rpm')) facts.packageManager = 'rpm';
  else if (!facts.unsupported) facts.unsupported = { reason: 'NoPackageManager', message: `${os.prettyName} has neither dpkg nor rpm: the agent package cannot be installed` };
  const snap = await host.run(['sh', '-c', 'command -v snap >/dev/null && snap list amazon-ssm-agent']);
  facts.snapAgent = snap.code === 0;
  facts.ec2 = await detectEc2(imdsEndpoint);
  const dmi: Partial<Record<(typeof DMI_FILES)[number], string>> = {};
  for (const f of DMI_FILES) {
    const text = (await host.readFile(f).catch(() => undefined))?.toString('utf8');
    if (text !== undefined) dmi[f] = text;
  }
  facts.ec2Hardware = ec2HardwareFromDmi(dmi);
  if (await detectNodeadm(host)) facts.externallyManaged = 'nodeadm';
  return facts;
}
