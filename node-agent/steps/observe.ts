// Step 6 (the host part): is the service active, which version runs, which managed instance is this host.
import type { Host } from '../host/host.ts';
import type { HostFacts } from './facts.ts';
import { installedAgentVersion } from './installed-version.ts';
import { agentUnit, REGISTRATION_FILE } from './paths.ts';
import { parseRegistration } from './registration.ts';

export interface AgentObservation {
  serviceActive: boolean;
  version?: string;
  registration?: { instanceId: string; region: string };
}

export async function observeAgent(host: Host, facts: HostFacts): Promise<AgentObservation> {
  const active = await host.run(['systemctl', 'is-active', '--quiet', agentUnit(facts.snapAgent)]);
  const version = await installedAgentVersion(host, facts);
  const registration = parseRegistration((await host.readFile(REGISTRATION_FILE))?.toString('utf8'));
  facts.installedVersion = version;
  facts.registration = registration;
  return { serviceActive: active.code === 0, version, registration };
}
