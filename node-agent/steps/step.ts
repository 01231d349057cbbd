// A host step: check() looks, apply() acts only when check() found something to do. Every step is idempotent:
// on a converged host check() says so and nothing is written or restarted.
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import type { EffectiveConfig } from '../config/effective.ts';
import type { Host } from '../host/host.ts';
import type { HostFacts } from './facts.ts';
import { ReasonedError } from '../../operator/lib/errors.ts';

export type StepStatus = 'ok' | 'changed' | 'skipped' | 'failed' | 'unsupported';

export interface StepOutcome {
  step: string;
  status: StepStatus;
  /** CamelCase reason for failed/skipped/unsupported (e.g. ActivationExpired, SignatureInvalid). */
  reason?: string;
  message?: string;
}

export interface StepContext {
  host: Host;
  /** The revision's configuration (effective.config). */
  config: NodeAgentConfig;
  /** This pass's Secret-backed values (proxy, mirror, activation), resolved once at its start. */
  effective: EffectiveConfig;
  facts: HostFacts;
  now(): number;
  /** Aborted when the node agent is stopping: a step may give up work that has not touched the host yet. */
  stopping?: AbortSignal;
}

/** What check() found: nothing to do, something to do (with a description), or a reason it cannot run. */
export type CheckResult = { needed: false } | { needed: true; what: string } | { skip: string; message: string } | { unsupported: string; message: string };

export interface Step {
  name: string;
  check(ctx: StepContext): Promise<CheckResult>;
  apply(ctx: StepContext): Promise<void>;
}

/** A step's failure: the reason its outcome reports and a message a person can act on; `cause` keeps the error
 * beneath. An error from below that is not a StepError is reported with a reason of the step's own (or Error). */
export class StepError extends ReasonedError {
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
    this.name = 'StepError';
  }
}

export async function runStep(step: Step, ctx: StepContext): Promise<StepOutcome> {
  try {
    const check = await step.check(ctx);
    if ('skip' in check) return { step: step.name, status: 'skipped', reason: check.skip, message: check.message };
    if ('unsupported' in check) return { step: step.name, status: 'unsupported', reason: check.unsupported, message: check.message };
    if (!check.needed) return { step: step.name, status: 'ok' };
    await step.apply(ctx);
    return { step: step.name, status: 'changed', message: check.what };
  } catch (err) {
    if (err instanceof StepError) return { step: step.name, status: 'failed', reason: err.reason, message: err.message };
    return { step: step.name, status: 'failed', reason: 'Error', message: err instanceof Error ? err.message : String(err) };
  }
}

/** Runs a command and turns a non-zero exit into a StepError that carries the command's own words. */
export async function must(host: Host, argv: string[], reason: string, opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await host.run(argv, opts);
  if (r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
    throw new StepError(reason, `${argv[0]} ${argv[1] ?? ''} exited ${r.code}: ${detail}`);
  }
  return r.stdout;
}
