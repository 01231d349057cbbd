// One pass of the node agent over its host: detect, then the steps in order, then observe. Each step reports.
import type { EffectiveConfig } from '../config/effective.ts';
import { AgentHealthWatcher, type AgentHealth } from '../agent-health/watcher.ts';
import type { Host } from '../host/host.ts';
import { configureStep } from '../steps/configure.ts';
import { detectHost } from '../steps/detect.ts';
import type { HostFacts } from '../steps/facts.ts';
import { createInstallStep, type AgentPackages } from '../steps/install.ts';
import { observeAgent, type AgentObservation } from '../steps/observe.ts';
import { createRegisterStep } from '../steps/register.ts';
import { ssmUserStep } from '../steps/ssm-user.ts';
import { runStep, type Step, type StepContext, type StepOutcome } from '../steps/step.ts';
import { uninstallStep } from '../steps/uninstall.ts';
import { MANAGED_BY_NODEADM } from '../steps/nodeadm.ts';

export interface PassReport {
  at: Date;
  facts: HostFacts;
  outcomes: StepOutcome[];
  observation?: AgentObservation;
  /** what the agent's own log says (absent when the agent is not installed or this was an Uninstall pass) */
  health?: AgentHealth;
}

export interface PassDeps {
  host: Host;
  packages: AgentPackages;
  imdsEndpoint: string;
  now?: () => number;
  registerBackoff?: { baseDelayMs: number; maxDelayMs: number };
}

/** Holds what must survive between passes (registration backoff, the resolved "latest"). */
export class HostConverger {
  private readonly deps: PassDeps;
  private readonly install: Step;
  private readonly register: Step;
  private readonly health = new AgentHealthWatcher();

  constructor(deps: PassDeps) {
    this.deps = deps;
    this.install = createInstallStep(deps.packages);
    this.register = createRegisterStep(deps.registerBackoff);
  }

  /**
   * One pass over the configuration as resolved at its start (config/mounted-secrets.ts); once `stopping` is aborted
   * no further step starts (the one running finishes: graceful termination).
   */
  async pass(effective: EffectiveConfig, stopping?: AbortSignal): Promise<PassReport> {
    const { host } = this.deps;
    const { config } = effective;
    const at = new Date();
    let facts: HostFacts;
    try {
      facts = await detectHost(host, this.deps.imdsEndpoint);
    } catch (err) {
      return { at, facts: {}, outcomes: [{ step: 'detect', status: 'failed', reason: 'DetectFailed', message: (err as Error).message }] };
    }
    if (facts.unsupported) {
      return { at, facts, outcomes: [{ step: 'detect', status: 'unsupported', reason: facts.unsupported.reason, message: facts.unsupported.message }] };
    }
    const ctx: StepContext = { host, config, effective, facts, now: this.deps.now ?? Date.now, ...(stopping ? { stopping } : {}) };
    const steps = config.action === 'Uninstall' ? [uninstallStep] : [this.install, configureStep, ssmUserStep, this.register];
    const outcomes: StepOutcome[] = [{ step: 'detect', status: 'ok' }];
    for (const step of steps) {
      if (facts.externallyManaged === 'nodeadm') {
        // Adopted, never changed: the agent, its configuration and its registration are nodeadm's.
        outcomes.push({ step: step.name, status: 'skipped', reason: MANAGED_BY_NODEADM, message: 'EKS Hybrid Nodes: nodeadm manages amazon-ssm-agent and its registration on this host' });
        continue;
      }
      if (stopping?.aborted) {
        outcomes.push({ step: step.name, status: 'skipped', reason: 'Stopping', message: 'the node agent is stopping' });
        continue;
      }
      outcomes.push(await runStep(step, ctx));
    }
    let observation: AgentObservation | undefined;
    try {
      observation = await observeAgent(host, facts);
      outcomes.push({ step: 'observe', status: 'ok' });
    } catch (err) {
      outcomes.push({ step: 'observe', status: 'failed', reason: 'ObserveFailed', message: (err as Error).message });
    }
    let health: AgentHealth | undefined;
    if (config.action !== 'Uninstall') {
      const restarted = outcomes.some((o) => (o.step === 'register' || o.step === 'configure' || o.step === 'install') && o.status === 'changed');
      try {
        const h = await this.health.observe(host, observation, restarted);
        outcomes.push(h.outcome);
        health = h.health;
      } catch (err) {
        outcomes.push({ step: 'agent-health', status: 'failed', reason: 'ObserveFailed', message: (err as Error).message });
      }
    }
    return { at, facts, outcomes, observation, ...(health ? { health } : {}) };
  }
}
