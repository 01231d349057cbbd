// What to do about a config's hybrid activation, decided from what was observed. Pure: no I/O, no clock of its own.
//
// A managed activation (spec.registration.activation.managed) is created by the operator and stored in the Secret
// ssm-activation-<config>, which the node agents read. Before it expires (or once it is used up, or the spec asks for
// another role or limit) a new one is created first and written to the Secret; the old one is kept, its id listed in
// the Secret, until no node still needs it: every hybrid node that was not yet registered has registered (registered
// hosts no longer depend on any activation), or the old one expired or is gone anyway. One action per pass.
//
// A user-made activation (secretRef) is only checked and reported: the operator never changes the user's Secret.

/** What DescribeActivations says about one activation (a subset of operator/aws ActivationInfo). */
export interface ActivationFacts {
  id: string;
  expired: boolean;
  expiresAt: Date | undefined;
  registrationsCount: number;
  registrationLimit: number;
  iamRole?: string | undefined;
}

/** spec.registration.activation.managed */
export interface ManagedActivationSpec {
  iamRole: string;
  registrationLimit: number;
  expirationDays: number;
  tags?: Record<string, string>;
}

/** What the activation Secret holds (the code is never logged, never put in status). */
export interface StoredActivation {
  id: string;
  code: string;
  /** managed only: older activations kept until no node needs them */
  previousIds?: string[];
}

export interface PlanActivationInput {
  /** undefined: a user-made activation (secretRef) */
  managed: ManagedActivationSpec | undefined;
  /** the Secret's name, for messages */
  secretName: string;
  /** the Secret's content; undefined when there is no Secret (or it lacks activationId/activationCode) */
  secret: StoredActivation | undefined;
  /** DescribeActivations of secret.id; undefined when SSM does not know it */
  current: ActivationFacts | undefined;
  /** DescribeActivations of each of secret.previousIds; an id missing from the map is gone */
  previous?: ReadonlyMap<string, ActivationFacts>;
  now: Date;
  /** rotate when the activation expires within this long (see rotateBeforeMs) */
  rotateBeforeMs: number;
  /** nodes whose registration may still depend on an old activation: hybrid nodes not registered yet (Infinity
   * when unknown: old activations are then kept until they expire) */
  agentsStillOnOld: number;
}

export type RotateReason = 'ExpiresSoon' | 'Expired' | 'Exhausted' | 'SpecChanged';

export type ActivationAction =
  | { kind: 'keep' }
  /** create one and write the Secret; `previousIds` stay listed in it */
  | { kind: 'create'; reason: 'Missing' | 'NotFound'; previousIds: string[] }
  /** create a new one first, write it to the Secret, keep `oldId` (and the other `previousIds`) listed */
  | { kind: 'rotate'; reason: RotateReason; oldId: string; previousIds: string[] }
  /** delete `ids` and list only `keep` in the Secret from then on */
  | { kind: 'delete-old'; ids: string[]; keep: string[] };

export type ActivationReason = 'Valid' | 'Expired' | 'Exhausted' | 'Rotating' | 'CreateFailed' | 'NotFound';

export interface ActivationVerdict {
  status: 'True' | 'False' | 'Unknown';
  reason: ActivationReason | string;
  message: string;
}

/** status.activation */
export interface ActivationReport {
  id: string;
  expiresAt?: string;
  registrationsUsed?: number;
  registrationLimit?: number;
}

export interface ActivationPlan {
  action: ActivationAction;
  /** the ActivationReady condition once the action succeeded (create/rotate: the step fills in the new id) */
  condition: ActivationVerdict;
  /** status.activation: the activation in use (create/rotate: filled in by the step) */
  activation?: ActivationReport;
}

export const DAY_MS = 24 * 3600_000;
const MAX_ROTATE_BEFORE_MS = 7 * DAY_MS;

/** Rotate 7 days before expiry, or at 20 % of the lifetime left when that is shorter. */
export function rotateBeforeMs(expirationDays: number): number {
  return Math.min(MAX_ROTATE_BEFORE_MS, 0.2 * expirationDays * DAY_MS);
}

/** The ExpirationDate to ask for: `expirationDays` from now, within SSM's 30-day limit. */
export function expirationDate(now: Date, expirationDays: number): Date {
  return new Date(now.getTime() + Math.min(30, Math.max(1, expirationDays)) * DAY_MS);
}

export function activationReport(a: ActivationFacts): ActivationReport {
  return {
    id: a.id,
    ...(a.expiresAt ? { expiresAt: a.expiresAt.toISOString() } : {}),
    registrationsUsed: a.registrationsCount,
    registrationLimit: a.registrationLimit,
  };
}

const exhausted = (a: ActivationFacts) => a.registrationLimit > 0 && a.registrationsCount >= a.registrationLimit;
const expiredAt = (a: ActivationFacts, now: Date) => a.expired || (a.expiresAt !== undefined && a.expiresAt.getTime() <= now.getTime());
const when = (d: Date | undefined) => (d ? d.toISOString() : 'an unknown time');
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function rotateReason(spec: ManagedActivationSpec, a: ActivationFacts, input: PlanActivationInput): RotateReason | undefined {
  if (expiredAt(a, input.now)) return 'Expired';
  if (exhausted(a)) return 'Exhausted';
  if (a.expiresAt !== undefined && a.expiresAt.getTime() - input.now.getTime() <= input.rotateBeforeMs) return 'ExpiresSoon';
  if ((a.iamRole !== undefined && a.iamRole !== spec.iamRole) || a.registrationLimit !== spec.registrationLimit) return 'SpecChanged';
  return undefined;
}

const ROTATE_WHY: Record<RotateReason, string> = {
  Expired: 'it expired',
  Exhausted: 'its registration limit is used up',
  ExpiresSoon: 'it expires soon',
  SpecChanged: 'the spec asks for another IAM role or registration limit',
};

/** Message for a successful create or rotate (the step knows the new id only then). */
export function createdVerdict(action: ActivationAction, newId: string, expiresAt: Date): ActivationVerdict {
  if (action.kind === 'rotate') {
    return {
      status: 'True',
      reason: 'Rotating',
      message: `Created activation ${newId} (expires ${expiresAt.toISOString()}) to replace ${action.oldId} because ${ROTATE_WHY[action.reason]}; ${action.oldId} is deleted once every hybrid node has registered.`,
    };
  }
  return { status: 'True', reason: 'Valid', message: `Created activation ${newId}; it expires ${expiresAt.toISOString()} and is rotated before then.` };
}

export function createFailedVerdict(error: string): ActivationVerdict {
  return {
    status: 'False',
    reason: 'CreateFailed',
    message: `Creating the hybrid activation failed: ${error}. Check that the operator's AWS identity may call ssm:CreateActivation and iam:PassRole on the IAM role in spec.registration.activation.managed.iamRole; the operator retries with backoff.`,
  };
}

function planManaged(spec: ManagedActivationSpec, input: PlanActivationInput): ActivationPlan {
  const { secret, current } = input;
  const previousIds = secret?.previousIds ?? [];
  const pending: ActivationVerdict = { status: 'Unknown', reason: 'Rotating', message: 'Creating the hybrid activation.' };
  if (!secret) return { action: { kind: 'create', reason: 'Missing', previousIds: [] }, condition: pending };
  if (!current) {
    return {
      action: { kind: 'create', reason: 'NotFound', previousIds: previousIds.filter((id) => input.previous?.has(id)) },
      condition: { status: 'Unknown', reason: 'NotFound', message: `Activation ${secret.id} from Secret ${input.secretName} no longer exists in SSM; creating a new one.` },
    };
  }
  const rotate = rotateReason(spec, current, input);
  if (rotate) return { action: { kind: 'rotate', reason: rotate, oldId: current.id, previousIds }, condition: pending, activation: activationReport(current) };

  // Old activations go once nothing needs them: every pending node registered, or they are unusable anyway.
  const previous = input.previous ?? new Map<string, ActivationFacts>();
  const done = (id: string) => {
    const p = previous.get(id);
    return input.agentsStillOnOld === 0 || !p || expiredAt(p, input.now);
  };
  const removable = previousIds.filter(done);
  const keep = previousIds.filter((id) => !done(id));
  const report = activationReport(current);
  const valid: ActivationVerdict = {
    status: 'True',
    reason: 'Valid',
    message: `Activation ${current.id} is valid until ${when(current.expiresAt)} (${current.registrationsCount} of ${current.registrationLimit} registrations used); it is rotated before it expires.`,
  };
  if (removable.length > 0) return { action: { kind: 'delete-old', ids: removable, keep }, condition: keep.length > 0 ? rotating(current, keep, input) : valid, activation: report };
  if (keep.length > 0) return { action: { kind: 'keep' }, condition: rotating(current, keep, input), activation: report };
  return { action: { kind: 'keep' }, condition: valid, activation: report };
}

function rotating(current: ActivationFacts, keep: string[], input: PlanActivationInput): ActivationVerdict {
  return {
    status: 'True',
    reason: 'Rotating',
    message: `Activation ${current.id} is in use; the previous ${keep.join(', ')} is kept until ${
      Number.isFinite(input.agentsStillOnOld) ? plural(input.agentsStillOnOld, 'hybrid node registers', 'hybrid nodes register') : 'it expires (registrations are not reported: the fleet channel is off)'
    }.`,
  };
}

function planUserMade(input: PlanActivationInput): ActivationPlan {
  const keep = { kind: 'keep' } as const;
  const { secret, current, secretName } = input;
  const fix = `create a new activation (aws ssm create-activation) and put its id and code in Secret ${secretName} (keys activationId, activationCode), or use spec.registration.activation.managed so the operator creates and rotates it`;
  if (!secret) {
    return { action: keep, condition: { status: 'False', reason: 'NotFound', message: `Secret ${secretName} with keys activationId and activationCode was not found in the operator's namespace: create it.` } };
  }
  if (!current) {
    return { action: keep, condition: { status: 'False', reason: 'NotFound', message: `Activation ${secret.id} from Secret ${secretName} does not exist in SSM (deleted, or made in another region): ${fix}.` } };
  }
  const activation = activationReport(current);
  if (expiredAt(current, input.now)) {
    return { action: keep, activation, condition: { status: 'False', reason: 'Expired', message: `Activation ${current.id} from Secret ${secretName} expired at ${when(current.expiresAt)}; hosts not yet registered cannot register: ${fix}.` } };
  }
  if (exhausted(current)) {
    return {
      action: keep,
      activation,
      condition: { status: 'False', reason: 'Exhausted', message: `Activation ${current.id} from Secret ${secretName} has used all ${current.registrationLimit} registrations; more hosts cannot register: ${fix}.` },
    };
  }
  const soon = current.expiresAt !== undefined && current.expiresAt.getTime() - input.now.getTime() <= input.rotateBeforeMs;
  return {
    action: keep,
    activation,
    condition: {
      status: 'True',
      reason: 'Valid',
      message: soon
        ? `Activation ${current.id} expires soon (${when(current.expiresAt)}); replace it before then: ${fix}.`
        : `Activation ${current.id} is valid until ${when(current.expiresAt)} (${current.registrationsCount} of ${current.registrationLimit} registrations used).`,
    },
  };
}

export function planActivation(input: PlanActivationInput): ActivationPlan {
  return input.managed ? planManaged(input.managed, input) : planUserMade(input);
}
