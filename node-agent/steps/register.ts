// Step 5: hybrid registration. A host already registered in this region is NEVER registered again (that would
// create a duplicate managed instance); failures back off, and the activation code never reaches a log, the
// environment or a message.
import { backoffDelay } from '../../operator/runtime/backoff.ts';
import { agentUnit, AGENT_BINARY, REGISTRATION_FILE } from './paths.ts';
import { classifyRegisterFailure, parseRegistration } from './registration.ts';
import { must, StepError, type Step, type StepContext } from './step.ts';

export type RegistrationNeed = { register: false; why: string } | { register: true };

/** Whether this host needs a hybrid registration. Pure. */
export function registrationNeed(mode: 'Auto' | 'EC2' | 'Hybrid', ec2: boolean, current: { region: string } | undefined, region: string): RegistrationNeed {
  if (mode === 'EC2') return { register: false, why: 'mode EC2: the agent uses the instance profile' };
  if (mode === 'Auto' && ec2) return { register: false, why: 'an EC2 instance: the agent uses the instance profile' };
  if (current && current.region === region) return { register: false, why: 'already registered in this region' };
  return { register: true };
}

export function createRegisterStep(opts: { baseDelayMs?: number; maxDelayMs?: number } = {}): Step {
  let failures = 0;
  let nextAttemptAt = 0;
  let last: StepError | undefined;

  const current = async (ctx: StepContext) => parseRegistration((await ctx.host.readFile(REGISTRATION_FILE))?.toString('utf8'));

  return {
    name: 'register',
    async check(ctx) {
      const need = registrationNeed(ctx.config.registration.mode, ctx.facts.ec2 !== undefined, await current(ctx), ctx.config.region);
      if (!need.register) {
        failures = 0;
        return need.why === 'already registered in this region' ? { needed: false } : { skip: 'NotHybrid', message: need.why };
      }
      if (!ctx.facts.installedVersion) return { skip: 'NotInstalled', message: 'the agent is not installed' };
      if (last && ctx.now() < nextAttemptAt) {
        throw new StepError(last.reason, `${last.message} (next attempt in ${Math.ceil((nextAttemptAt - ctx.now()) / 1000)} s)`);
      }
      return { needed: true, what: `registered in ${ctx.config.region}` };
    },
    async apply(ctx) {
      const dir = ctx.config.registration.activationDir;
      const id = dir ? (await ctx.readSecret(dir, 'activationId'))?.trim() : undefined;
      const code = dir ? (await ctx.readSecret(dir, 'activationCode'))?.trim() : undefined;
      if (!id || !code) {
        throw new StepError('ActivationMissing', 'no activation: the activation Secret is not mounted or lacks activationId and activationCode');
      }
      const unit = agentUnit(ctx.facts.snapAgent);
      await ctx.host.run(['systemctl', 'stop', unit]);
      // The real agent takes the code only as an argument; it is never logged, and never put in the environment.
      const r = await ctx.host.run([AGENT_BINARY, '-register', '-y', '-id', id, '-code', code, '-region', ctx.config.region], { timeoutMs: 120_000 });
      const registered = await current(ctx);
      await must(ctx.host, ['systemctl', 'start', unit], 'StartFailed');
      if (r.code !== 0 || !registered || registered.region !== ctx.config.region) {
        const failure = classifyRegisterFailure(`${r.stdout}\n${r.stderr}`, [code, id]);
        failures++;
        nextAttemptAt = ctx.now() + backoffDelay(failures, opts.baseDelayMs ?? 30_000, opts.maxDelayMs ?? 30 * 60_000);
        last = new StepError(failure.reason, failure.message);
        throw last;
      }
      failures = 0;
      last = undefined;
    },
  };
}
