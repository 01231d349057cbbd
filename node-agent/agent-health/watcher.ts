// The agent-health step of a pass: what the agent's own log says (classify.ts), read incrementally
// (log-reader.ts). A registered agent that cannot get credentials is a failed step, so it reaches the metrics, the
// fleet report and the config's status.failingNodes like any other failure.
import type { Host } from '../host/host.ts';
import type { AgentObservation } from '../steps/observe.ts';
import type { StepOutcome } from '../steps/step.ts';
import { currentProblem, foldLogLines, type HealthProblem, type HealthState } from './classify.ts';
import { IncrementalLogReader } from './log-reader.ts';

/** Where the agent logs (its seelog.xml default on Linux, deb, rpm and snap alike). */
export const AGENT_LOG = '/var/log/amazon/ssm/amazon-ssm-agent.log';
export const HEALTH_STEP = 'agent-health';

export interface AgentHealth {
  healthy: boolean;
  problem?: HealthProblem;
}

export class AgentHealthWatcher {
  private readonly reader: IncrementalLogReader;
  private state: HealthState = {};

  constructor(logPath = AGENT_LOG, maxReadBytes?: number) {
    this.reader = new IncrementalLogReader(logPath, maxReadBytes);
  }

  /** `restarted`: this pass restarted, registered or installed the agent (what it logged so far is history). */
  async observe(host: Host, observation: AgentObservation | undefined, restarted: boolean): Promise<{ outcome: StepOutcome; health?: AgentHealth }> {
    if (!observation?.version) {
      this.state = {};
      return { outcome: { step: HEALTH_STEP, status: 'skipped', reason: 'NotInstalled', message: 'the agent is not installed' } };
    }
    const chunk = await this.reader.read(host);
    if (restarted) {
      // what the agent logged until now was said by the process this pass replaced; the new one speaks next pass
      this.state = {};
      return { outcome: { step: HEALTH_STEP, status: 'ok', message: 'the agent was just (re)started' }, health: { healthy: true } };
    }
    this.state = foldLogLines(this.state, chunk.lines);
    const problem = currentProblem(this.state);
    if (!problem) return { outcome: { step: HEALTH_STEP, status: 'ok' }, health: { healthy: true } };
    const code = problem.code ? ` ${problem.code}` : '';
    return {
      outcome: { step: HEALTH_STEP, status: 'failed', reason: problem.reason, message: `${problem.fix} (agent said${code ? ',' : ''}${code}: ${problem.detail})` },
      health: { healthy: false, problem },
    };
  }
}
