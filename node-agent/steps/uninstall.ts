// Uninstall (deletionPolicy: Uninstall): the host is left as it was before the operator came, except ssm-user, which
// stays (it may own files, and sessions may have left work in its home). Everything else goes: the service and the
// package (purged: its conffiles too), the registration and key pair (/var/lib/amazon/ssm), the configuration the
// node agent wrote (/etc/amazon/ssm), the agent's logs (/var/log/amazon/ssm: they name the managed instance and
// what ran on the host; ship them elsewhere first if you keep them), the sudoers rule that exists for the agent,
// the proxy drop-in and the node agent's own state (/var/lib/ssm-node-agent).
import type { Host } from '../host/host.ts';
import type { HostFacts } from './facts.ts';
import { installedAgentVersion } from './installed-version.ts';
import { dirname } from 'node:path';
import { agentUnit, NODE_AGENT_HOST_DIR, proxyDropIn, REGISTRATION_FILE, SUDOERS_FILE } from './paths.ts';
import { must, type Step } from './step.ts';

const LEFTOVERS = (unit: string) => [REGISTRATION_FILE, SUDOERS_FILE, proxyDropIn(unit), `${NODE_AGENT_HOST_DIR}/installed-version`];
/** Directories removed whole: the agent's state, configuration and logs, and the node agent's own. */
const TREES = ['/var/lib/amazon/ssm', '/etc/amazon/ssm', '/var/log/amazon/ssm', NODE_AGENT_HOST_DIR];
/** Removed only when empty (someone else may keep things there). */
const PARENTS = (unit: string) => ['/var/lib/amazon', '/etc/amazon', '/var/log/amazon', dirname(proxyDropIn(unit))];

async function remaining(host: Host, facts: HostFacts): Promise<string[]> {
  const found: string[] = [];
  if (await installedAgentVersion(host, facts)) found.push('the amazon-ssm-agent package');
  const unit = agentUnit(facts.snapAgent);
  for (const path of [...LEFTOVERS(unit), ...TREES]) if (await host.stat(path)) found.push(path);
  for (const dir of PARENTS(unit)) if ((await host.stat(dir)) && (await host.run(['find', dir, '-maxdepth', '0', '-empty'])).stdout.trim() === dir) found.push(dir);
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
    else if (facts.packageManager === 'dpkg') await must(host, ['dpkg', '--purge', 'amazon-ssm-agent'], 'UninstallFailed', { timeoutMs: 300_000 });
    else if (facts.packageManager === 'rpm') await must(host, ['rpm', '-e', 'amazon-ssm-agent'], 'UninstallFailed', { timeoutMs: 300_000 });
    for (const path of LEFTOVERS(unit)) await host.removeFile(path);
    // The registration and the instance's key pair live in /var/lib/amazon/ssm: without them the host cannot act
    // as the old mi-.
    await must(host, ['rm', '-rf', '--one-file-system', ...TREES], 'UninstallFailed');
    for (const dir of PARENTS(unit)) await host.run(['rmdir', '--ignore-fail-on-non-empty', dir]);
    await host.run(['systemctl', 'daemon-reload']);
    facts.installedVersion = undefined;
    facts.registration = undefined;
  },
};
