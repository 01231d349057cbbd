// Step 5: hybrid registration. A host already registered in this region is NEVER registered again (that would
// create a duplicate managed instance); failures back off, and the activation code never reaches a log, the
// environment or a message.
import { backoffDelay } from '../../operator/lib/backoff.ts';
import { sleep } from '../../operator/lib/sleep.ts';
import { agentBinary, agentUnit, REGISTRATION_FILE } from './paths.ts';
import { classifyRegisterFailure, parseRegistration } from './registration.ts';
import { StepError, type Step, type StepContext } from './step.ts';

/**
 * The real `-register` tries 3 times with a 60 s client timeout (against an endpoint that accepts and never answers
 * it took 248 s): the node agent waits longer than that, so the agent's own answer, not our timeout, is what we see.
 */
export const REGISTER_TIMEOUT_MS = 300_000;

/** The proxy the agent will use, for -register too (it reads https_proxy/http_proxy/no_proxy like Go's httpproxy). */
function proxyEnv(ctx: StepContext): Record<string, string> {
  const r = ctx.effective.proxy;
  // A bad proxy Secret: registering direct instead would fail later and look like a network problem.
  if (!r.ok) throw new StepError(r.reason, r.message, { cause: r });
  const p = r.proxy;
  if (!p.httpsProxy && !p.httpProxy) return {};
  return {
    ...(p.httpsProxy ? { https_proxy: p.httpsProxy } : {}),
    ...(p.httpProxy ? { http_proxy: p.httpProxy } : {}),
    no_proxy: p.noProxy.join(','),
  };
}

export type RegistrationNeed = { register: false; why: string; refuse?: { reason: string; message: string } } | { register: true };

/** Whether this host needs a hybrid registration. Pure. `ec2Hardware`: the firmware says EC2 (dmi.ts). */
export function registrationNeed(mode: 'Auto' | 'EC2' | 'Hybrid', ec2: boolean, current: { region: string } | undefined, region: string, ec2Hardware = false): RegistrationNeed {
  if (mode === 'EC2') return { register: false, why: 'mode EC2: the agent uses the instance profile' };
  if (mode === 'Auto' && ec2) return { register: false, why: 'an EC2 instance: the agent uses the instance profile' };
  if (current && current.region === region) return { register: false, why: 'already registered in this region' };
  // Auto on EC2 hardware whose IMDS did not answer: registering it as hybrid would make it a managed instance for
  // good (and a duplicate once IMDS is back). Wait for IMDS instead, or let the spec say Hybrid.
  if (mode === 'Auto' && ec2Hardware) {
    return {
      register: false,
      why: 'EC2 hardware without IMDS',
      refuse: {
        reason: 'ImdsUnreachable',
        message:
          'this host is an EC2 instance (its DMI vendor says so) but IMDS at 169.254.169.254 did not answer after 3 tries, so mode Auto does not register it as hybrid: allow IMDSv2 from the host (instance metadata options: http-endpoint enabled, http-tokens optional or required), or set spec.registration.mode to Hybrid to register it as a managed instance on purpose',
      },
    };
  }
  return { register: true };
}

/** How often the host is looked at while an earlier -register (of a killed node agent) is still running. */
const EARLIER_REGISTER_POLL_MS = 1_000;
/** A -register's command line: /usr/bin/amazon-ssm-agent -register …, the snap's binary, or `sh <binary> -register …`. */
export const EARLIER_REGISTER_PATTERN = '^([^ ]+ )?[^ ]*amazon-ssm-agent -register( |$)';

/**
 * A node agent killed during -register leaves that -register running on the host (it runs in the host's
 * namespaces, not in the pod): its answer may still register the host. Registering again meanwhile would make a
 * second managed instance, so wait (bounded by its own timeout) until it is gone. True when one was waited for.
 */
async function waitForEarlierRegister(ctx: StepContext, timeoutMs: number): Promise<boolean> {
  const deadline = ctx.now() + timeoutMs;
  let waited = false;
  for (let i = 0; i <= Math.ceil(timeoutMs / EARLIER_REGISTER_POLL_MS); i++) {
    // pgrep exits 0 when a process matches, 1 when none does; anything else (no pgrep) is not a reason to wait.
    // Anchored at the start of the command line (the binary, or an interpreter and the binary), so that the
    // nsenter running this very pgrep, visible with hostPID and carrying the pattern as an argument, never matches.
    const r = await ctx.host.run(['pgrep', '-f', '--', EARLIER_REGISTER_PATTERN]);
    if (r.code !== 0 || ctx.now() >= deadline || ctx.stopping?.aborted) return waited;
    waited = true;
    await sleep(EARLIER_REGISTER_POLL_MS, ctx.stopping).catch(() => undefined);
  }
  return waited;
}

export function createRegisterStep(opts: { baseDelayMs?: number; maxDelayMs?: number; timeoutMs?: number } = {}): Step {
  let failures = 0;
  let nextAttemptAt = 0;
  let last: StepError | undefined;

  const current = async (ctx: StepContext) => parseRegistration((await ctx.host.readFile(REGISTRATION_FILE))?.toString('utf8'));

  return {
    name: 'register',
    async check(ctx) {
      const need = registrationNeed(ctx.config.registration.mode, ctx.facts.ec2 !== undefined, await current(ctx), ctx.config.region, ctx.facts.ec2Hardware === true);
      if (!need.register && need.refuse) throw new StepError(need.refuse.reason, need.refuse.message);
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
      const activation = ctx.effective.activation;
      if (!activation.ok) throw new StepError(activation.reason, activation.message, { cause: activation });
      const { id, code } = activation;
      // Before anything touches the host: a bad proxy Secret is its own failure, not a stopped agent and a timeout.
      const env = proxyEnv(ctx);
      const unit = agentUnit(ctx.facts.snapAgent);
      const fail = (reason: string, message: string): never => {
        failures++;
        nextAttemptAt = ctx.now() + backoffDelay(failures, opts.baseDelayMs ?? 30_000, opts.maxDelayMs ?? 30 * 60_000);
        last = new StepError(reason, message);
        throw last;
      };
      if (await waitForEarlierRegister(ctx, opts.timeoutMs ?? REGISTER_TIMEOUT_MS)) {
        const now = await current(ctx);
        // The earlier -register got through: this host is registered, and once is enough. Its node agent stopped
        // the service for it and was killed before starting it again.
        if (now && now.region === ctx.config.region) {
          const started = await ctx.host.run(['systemctl', 'start', unit]);
          if (started.code !== 0) fail('StartFailed', `registered, but systemctl start ${unit} failed: ${(started.stderr || started.stdout).trim().split('\n').slice(-2).join(' | ')}`);
          failures = 0;
          last = undefined;
          return;
        }
      }
      await ctx.host.run(['systemctl', 'stop', unit]);
      let r: { code: number; stdout: string; stderr: string } | undefined;
      let runError: string | undefined;
      let started: { code: number; stdout: string; stderr: string };
      try {
        // The real agent takes the code only as an argument; it is never logged, and never put in the environment.
        r = await ctx.host.run([agentBinary(ctx.facts.snapAgent), '-register', '-y', '-id', id, '-code', code, '-region', ctx.config.region], {
          timeoutMs: opts.timeoutMs ?? REGISTER_TIMEOUT_MS,
          env,
        });
      } catch (err) {
        runError = (err instanceof Error ? err.message : String(err)).split(code).join('[REDACTED]');
      } finally {
        // whatever happened, the agent runs again (stopped, it would stay down until the next successful pass)
        started = await ctx.host.run(['systemctl', 'start', unit]);
      }
      const notStarted = started.code !== 0 ? `; and systemctl start ${unit} failed: ${(started.stderr || started.stdout).trim().split('\n').slice(-2).join(' | ')}` : '';
      if (runError !== undefined || r === undefined) {
        fail('RegistrationTimedOut', `amazon-ssm-agent -register did not finish (${runError ?? 'no result'}): check that the SSM endpoint answers (connectivity probes, proxy)${notStarted}`);
        return;
      }
      const registered = await current(ctx);
      if (r.code !== 0 || !registered || registered.region !== ctx.config.region) {
        const failure = classifyRegisterFailure(`${r.stdout}\n${r.stderr}`, [code, id]);
        fail(failure.reason, `${failure.message}${notStarted}`);
      }
      if (started.code !== 0) fail('StartFailed', `registered, but systemctl start ${unit} failed${notStarted.replace(/^; and systemctl start \S+ failed/, '')}`);
      failures = 0;
      last = undefined;
    },
  };
}
