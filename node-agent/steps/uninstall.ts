// Uninstall (deletionPolicy: Uninstall): the service stops, the package and the registration go. ssm-user stays
// (it may own files); its sudoers rule, which exists for the agent, goes.
import { HOST_COMMAND_MAX_SECONDS } from '../../operator/api/node-agent-config.ts';
import type { Host } from '../host/host.ts';
import type { HostFacts } from './facts.ts';
import { installedAgentVersion } from './installed-version.ts';
import { agentUnit, NODE_AGENT_HOST_DIR, proxyDropIn, REGISTRATION_FILE, SUDOERS_FILE } from './paths.ts';
import { must, type Step } from './step.ts';

const LEFTOVERS = (unit: string) => [REGISTRATION_FILE, SUDOERS_FILE, proxyDropIn(unit), `${NODE_AGENT_HOST_DIR}/installed-version`];

async function remaining(host: Host, facts: HostFacts): Promise<string[]> {
  const found: string[] = [];
  if (await installedAgentVersion(host, facts)) found.push('the amazon-ssm-agent package');
  for (const path of LEFTOVERS(agentUnit(facts.snapAgent))) if (await host.stat(path)) found.push(path);
  if (await host.stat('/var/lib/amazon/ssm')) found.push('/var/lib/amazon/ssm');
  return found;
}

export const uninstallStep: Step = {
  name: 'uninstall',
  async check(ctx) {
    const found = await remaining(ctx.host, ctx.facts);
    return found.length > 0 ? { needed: true, what: `removed ${found.join(', ')}` } : { needed: false };
  },
  async apply(ctx) {
    const { host, facts } = ctx;
    const unit = agentUnit(facts.snapAgent);
    await host.run(['systemctl', 'disable', '--now', unit]);
    if (facts.snapAgent) await must(host, ['snap', 'remove', 'amazon-ssm-agent'], 'UninstallFailed');
    else if (facts.packageManager === 'dpkg') await must(host, ['dpkg', '--purge', 'amazon-ssm-agent'], 'UninstallFailed', { timeoutMs: HOST_COMMAND_MAX_SECONDS * 1000 });
    else if (facts.packageManager === 'rpm') await must(host, ['rpm', '-e', 'amazon-ssm-agent'], 'UninstallFailed', { timeoutMs: HOST_COMMAND_MAX_SECONDS * 1000 });
    for (const path of LEFTOVERS(unit)) await host.removeFile(path);
    // The registration and the instance's key pair live here; without them the host cannot act as the old mi-.
    await must(host, ['rm', '-rf', '--one-file-system', '/var/lib/amazon/ssm'], 'UninstallFailed');
    await host.run(['systemctl', 'daemon-reload']);
    facts.installedVersion = undefined;
    facts.registration = undefined;
  },
};
