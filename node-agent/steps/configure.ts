// Step 3: the agent's configuration file and proxy drop-in; the service restarts only when one of them changed.
import type { Host } from '../host/host.ts';
import { renderAgentConfigFile, renderProxyDropIn } from './agent-config-file.ts';
import { AGENT_CONFIG, agentUnit, proxyDropIn } from './paths.ts';
import { must, StepError, type Step, type StepContext } from './step.ts';

interface Desired {
  configFile: string;
  dropIn: string | undefined;
  unit: string;
}

/** What the files should say. A bad proxy Secret fails the step before anything is written (the drop-in stays
 * as it was: removing it would silently take the proxy away). */
async function desired(ctx: StepContext): Promise<Desired> {
  const proxy = ctx.effective.proxy;
  if (!proxy.ok) throw new StepError(proxy.reason, proxy.message, { cause: proxy });
  const existing = (await ctx.host.readFile(AGENT_CONFIG))?.toString('utf8');
  const unit = agentUnit(ctx.facts.snapAgent);
  return { configFile: renderAgentConfigFile(ctx.config, existing), dropIn: renderProxyDropIn(proxy.proxy), unit };
}

async function differs(host: Host, path: string, want: string | undefined): Promise<boolean> {
  const have = (await host.readFile(path))?.toString('utf8');
  return have !== want;
}

export const configureStep: Step = {
  name: 'configure',
  async check(ctx) {
    if (!ctx.facts.installedVersion) return { skip: 'NotInstalled', message: 'the agent is not installed' };
    const d = await desired(ctx);
    const changes = [];
    if (await differs(ctx.host, AGENT_CONFIG, d.configFile)) changes.push(AGENT_CONFIG);
    if (await differs(ctx.host, proxyDropIn(d.unit), d.dropIn)) changes.push(proxyDropIn(d.unit));
    return changes.length > 0 ? { needed: true, what: `updated ${changes.join(', ')}` } : { needed: false };
  },
  async apply(ctx) {
    const { host } = ctx;
    const d = await desired(ctx);
    const dropInPath = proxyDropIn(d.unit);
    const dropInChanged = await differs(host, dropInPath, d.dropIn);
    if (await differs(host, AGENT_CONFIG, d.configFile)) await host.writeFileAtomic(AGENT_CONFIG, d.configFile, 0o644);
    if (dropInChanged) {
      // 0600: the proxy URL may carry credentials.
      if (d.dropIn) await host.writeFileAtomic(dropInPath, d.dropIn, 0o600);
      else await host.removeFile(dropInPath);
      await must(host, ['systemctl', 'daemon-reload'], 'SystemdFailed');
    }
    await must(host, ['systemctl', 'restart', d.unit], 'RestartFailed');
  },
};
