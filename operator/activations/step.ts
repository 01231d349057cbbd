// The activation step's I/O: read the activation Secret, ask SSM about the activations it names, plan (plan.ts),
// then carry the plan out — create an activation and write the Secret (new activation first, old ones kept listed),
// or delete the old ones nothing needs any more. Failures are returned, not thrown, so the caller retries with
// backoff; the SDK's own retries in SsmApi absorb throttling.
import type { SsmApi } from '../aws/ssm-api.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import { activationSecret, activationSecretName, ANNOTATION_PREVIOUS_ACTIVATIONS, KEY_ACTIVATION_CODE, KEY_ACTIVATION_ID } from '../manifests/secrets.ts';
import {
  createdVerdict,
  createFailedVerdict,
  expirationDate,
  planActivation,
  rotateBeforeMs,
  type ActivationAction,
  type ActivationFacts,
  type ActivationReport,
  type ActivationVerdict,
  type StoredActivation,
} from './plan.ts';
import { TAG_CLUSTER, TAG_CONFIG } from './tags.ts';
import { ANNOTATION_ACTIVATION_INTENT, activationHistory, parseIntent, recordActivationIds, setActivationIntent } from './history.ts';

export interface ActivationStepInput {
  client: KubeClient;
  ssm: SsmApi;
  /** the operator's namespace, where the Secret lives */
  namespace: string;
  clusterName: string;
  /** a config whose spec is valid (defaults applied) */
  config: SsmAgentConfig;
  /** hybrid nodes of this config not registered yet (pendingHybridRegistrations) */
  agentsStillOnOld: number;
  now?: () => Date;
}

export interface ActivationOutcome {
  /** what was done (or tried) */
  action: ActivationAction['kind'] | 'none';
  /** ActivationReady; undefined when the config uses no activation */
  condition?: ActivationVerdict;
  activation?: ActivationReport;
  /** a failure to retry with backoff */
  error?: string;
  /** every activation this config has used, as far as known after this pass (history.ts): whose instances are its */
  activationIds: string[];
}

interface SecretObject {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  data?: Record<string, string>;
}

const decode = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));

export function storedActivation(secret: SecretObject | undefined): StoredActivation | undefined {
  const id = decode(secret?.data?.[KEY_ACTIVATION_ID])?.trim();
  const code = decode(secret?.data?.[KEY_ACTIVATION_CODE])?.trim();
  if (!id || !code) return undefined;
  const previous = secret?.metadata?.annotations?.[ANNOTATION_PREVIOUS_ACTIVATIONS];
  const previousIds = (previous ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return { id, code, ...(previousIds.length > 0 ? { previousIds } : {}) };
}

/** Tags on a created activation (SSM copies them onto the instances that register with it). Pure. */
export function activationTags(clusterName: string, config: SsmAgentConfig, extra: Record<string, string> | undefined): Record<string, string> {
  return { ...(extra ?? {}), [TAG_CLUSTER]: clusterName, [TAG_CONFIG]: config.metadata.name };
}

function readSecret(client: KubeClient, namespace: string, name: string): Promise<SecretObject | undefined> {
  return kube.getOptional<SecretObject>(client, RESOURCES.secret, { namespace, name });
}

/** One pass of the activation step for `config`. Never throws: failures come back in `error`. */
export async function reconcileActivation(input: ActivationStepInput): Promise<ActivationOutcome> {
  const { client, ssm, namespace, config } = input;
  const now = (input.now ?? (() => new Date()))();
  const spec = config.spec.registration.activation;
  const secretName = activationSecretName(config);
  let known = activationHistory(config.metadata.annotations);
  if (!spec || !secretName || config.spec.registration.mode === 'EC2') return { action: 'none', activationIds: known };
  const managed = spec.managed;

  let secret: StoredActivation | undefined;
  let current: ActivationFacts | undefined;
  const previous = new Map<string, ActivationFacts>();
  try {
    secret = storedActivation(await readSecret(client, namespace, secretName));
    if (secret) current = await ssm.describeActivation(secret.id);
    for (const id of secret?.previousIds ?? []) {
      const p = await ssm.describeActivation(id);
      if (p) previous.set(id, p);
    }
  } catch (err) {
    return {
      action: 'none',
      condition: { status: 'Unknown', reason: 'CheckFailed', message: `Could not check the activation: ${errorMessage(err)}; retrying.` },
      error: `activation check: ${errorMessage(err)}`,
      activationIds: known,
    };
  }
  // Activations of this config that nothing names (a crash between CreateActivation and the Secret write, an answer
  // lost after SSM acted): nobody holds their codes, so they go. Only when the Secret could be read.
  const sweepError = managed ? await sweepOrphanActivations(input, secretName, secret, now) : undefined;

  // What the Secret names is this config's (a user's Secret: once SSM confirms the activation exists); recorded on
  // the config so that instances registered with it stay recognisable after the Secret moves on.
  const inUse = secret ? (managed ? [secret.id, ...(secret.previousIds ?? [])] : current ? [secret.id] : []) : [];
  known = [...new Set([...known, ...inUse])];
  let recordError: string | undefined;
  try {
    known = [...new Set([...(await recordActivationIds(client, config.metadata.name, inUse)), ...known])];
  } catch (err) {
    recordError = `recording the activation ids on the config: ${errorMessage(err)}`;
  }
  const withRecordError = (o: ActivationOutcome): ActivationOutcome => {
    const extra = recordError ?? sweepError;
    return extra && !o.error ? { ...o, error: extra } : o;
  };

  const plan = planActivation({
    managed: managed && { iamRole: managed.iamRole, registrationLimit: managed.registrationLimit, expirationDays: managed.expirationDays, ...(managed.tags ? { tags: managed.tags } : {}) },
    secretName,
    secret,
    current,
    previous,
    now,
    rotateBeforeMs: rotateBeforeMs(managed?.expirationDays ?? 30),
    agentsStillOnOld: input.agentsStillOnOld,
  });
  const action = plan.action;
  const done: ActivationOutcome = { action: action.kind, condition: plan.condition, ...(plan.activation ? { activation: plan.activation } : {}), activationIds: known };
  if (action.kind === 'keep' || !managed) return withRecordError(done);

  if (action.kind === 'delete-old') {
    try {
      for (const id of action.ids) await ssm.deleteActivation(id);
      await kube.apply(client, activationSecret(config, namespace, { ...(secret as StoredActivation), previousIds: action.keep }));
      return withRecordError(done);
    } catch (err) {
      return { ...done, error: `deleting old activations: ${errorMessage(err)}` };
    }
  }

  // Another process's intent is kept (not overwritten by ours) until the sweep has deleted what it left.
  if (intentAwaitsSettling(config, now)) {
    return { ...done, error: 'waiting for an activation another operator process was creating to settle (its intent is on the config); retrying' };
  }
  if (sweepError && intentIsStale(config, now)) return { ...done, error: sweepError };
  // create or rotate: the new activation first, then the Secret; the old id stays listed until nothing needs it.
  const expiresAt = expirationDate(now, managed.expirationDays);
  // Intent first: should this process die before the Secret names the new activation, the next pass sweeps it.
  try {
    await setActivationIntent(client, config.metadata.name, now.toISOString());
  } catch (err) {
    return { ...done, error: `recording the intent to create an activation on the config: ${errorMessage(err)}` };
  }
  const clearIntent = () => setActivationIntent(client, config.metadata.name, null).then(() => undefined, (err: unknown) => `clearing the activation intent: ${errorMessage(err)}`);
  let created: { id: string; code: string };
  try {
    created = await ssm.createActivation({
      iamRole: managed.iamRole,
      registrationLimit: managed.registrationLimit,
      expirationDate: expiresAt,
      tags: activationTags(input.clusterName, config, managed.tags),
      defaultInstanceName: config.metadata.name,
      description: `ssm-agent-operator: SsmAgentConfig ${config.metadata.name} in cluster ${input.clusterName}`,
    });
  } catch (err) {
    const message = errorMessage(err);
    // A rotation that fails leaves the old activation in use: report it as it stands.
    return { action: action.kind, condition: createFailedVerdict(message), ...(plan.activation ? { activation: plan.activation } : {}), error: `creating an activation: ${message}`, activationIds: known };
  }
  // Recorded before any node can learn its code: every instance registered with it is then known to be this config's.
  try {
    known = [...new Set([...(await recordActivationIds(client, config.metadata.name, [created.id])), ...known])];
  } catch (err) {
    // Nothing names the new activation yet, so no node can have used it: it goes again (best effort; the intent
    // stays for the sweep should this delete fail).
    if ((await ssm.deleteActivation(created.id).catch(() => undefined)) !== undefined) await clearIntent();
    const message = `recording activation ${created.id} on the config: ${errorMessage(err)}`;
    return { action: action.kind, condition: createFailedVerdict(message), error: message, activationIds: known };
  }
  const previousIds = action.kind === 'rotate' ? [...action.previousIds.filter((id) => id !== action.oldId), action.oldId] : action.previousIds;
  try {
    await kube.apply(client, activationSecret(config, namespace, { id: created.id, code: created.code, previousIds }));
  } catch (err) {
    // A write that timed out may still have landed: look before deciding. If the Secret names the new activation,
    // it is live (nodes may be registering with it) and must stay; if not, it is an orphan that the sweep deletes
    // once it is old enough — never here, while the write might still be in flight.
    const landed = await readSecret(client, namespace, secretName).then(storedActivation, () => undefined);
    if (landed?.id !== created.id) {
      return { action: action.kind, condition: createFailedVerdict(`writing Secret ${secretName}: ${errorMessage(err)}`), error: `writing Secret ${secretName}: ${errorMessage(err)}`, activationIds: known };
    }
  }
  const intentError = await clearIntent();
  return withRecordError({
    action: action.kind,
    ...(intentError ? { error: intentError } : {}),
    condition: createdVerdict(action, created.id, expiresAt),
    activation: { id: created.id, expiresAt: expiresAt.toISOString(), registrationsUsed: 0, registrationLimit: managed.registrationLimit },
    activationIds: known,
  });
}

/** An unnamed activation younger than this may still be on its way into the Secret (another replica's pass, a
 * write in flight): it is left for a later sweep. */
export const ORPHAN_MIN_AGE_MS = 10 * 60_000;
/** An intent older than this belongs to a pass that is over (CreateActivation is one attempt of at most 10 s, plus
 * throttling retries of a few seconds). */
export const INTENT_SETTLED_MS = 2 * 60_000;
/** An intent of another process is over after this long: a replica that lost the lease stops within its renew
 * deadline, but may still finish the CreateActivation attempt it is in (the lease, 15 s by default, plus one attempt
 * of at most 10 s). A restarted pod's own dead pass is over at once, but the mark cannot tell the two apart. */
export const FOREIGN_INTENT_SETTLED_MS = 30_000;

const intentOf = (config: SsmAgentConfig) => parseIntent(config.metadata.annotations?.[ANNOTATION_ACTIVATION_INTENT]);

/** True when the config carries an intent whose pass is over (see sweepOrphanActivations). Pure. */
export function intentIsStale(config: SsmAgentConfig, now: Date): boolean {
  const intent = intentOf(config);
  return intent !== undefined && now.getTime() - intent.at >= (intent.mine ? INTENT_SETTLED_MS : FOREIGN_INTENT_SETTLED_MS);
}

/** True while another process's intent has not settled: creating now would overwrite the intent that lets the sweep
 * delete what that process may have created, so it waits. This process's own intent is from a pass that is over
 * (passes do not overlap): a new one may start. Pure. */
export function intentAwaitsSettling(config: SsmAgentConfig, now: Date): boolean {
  const intent = intentOf(config);
  return intent !== undefined && !intent.mine && !intentIsStale(config, now);
}

/** Deletions per pass, so a pass stays short whatever SSM holds. */
const MAX_ORPHANS_PER_PASS = 10;

/**
 * Deletes this config's managed activations (DefaultInstanceName and the cluster and config tags) that the Secret
 * does not name, re-reading the Secret right before each delete. Returns an error to retry, or undefined.
 */
async function sweepOrphanActivations(input: ActivationStepInput, secretName: string, secret: StoredActivation | undefined, now: Date): Promise<string | undefined> {
  const { client, ssm, namespace, config, clusterName } = input;
  const name = config.metadata.name;
  const named = (s: StoredActivation | undefined) => new Set(s ? [s.id, ...(s.previousIds ?? [])] : []);
  // An intent left by a pass that did not finish, old enough that the pass cannot still be running (another
  // process's: FOREIGN_INTENT_SETTLED_MS; this one's: INTENT_SETTLED_MS): whatever it created unnamed can go now.
  const staleIntent = intentIsStale(config, now);
  const minAge = staleIntent ? 0 : ORPHAN_MIN_AGE_MS;
  try {
    const listed = await ssm.listActivationsNamed(name);
    const known = named(secret);
    const orphans = listed
      .filter((a) => a.tags[TAG_CLUSTER] === clusterName && a.tags[TAG_CONFIG] === name && !known.has(a.id))
      .filter((a) => a.createdAt === undefined || now.getTime() - a.createdAt.getTime() >= minAge)
      .slice(0, MAX_ORPHANS_PER_PASS);
    for (const a of orphans) {
      if (named(storedActivation(await readSecret(client, namespace, secretName))).has(a.id)) continue;
      await ssm.deleteActivation(a.id);
    }
    if (staleIntent) await setActivationIntent(client, name, null);
    return undefined;
  } catch (err) {
    return `sweeping orphaned activations: ${errorMessage(err)}`;
  }
}

/**
 * When a config with a managed activation goes away: its activations (current and kept old ones) are deleted in SSM
 * — the Secret goes with the config (ownerReference), so nothing could use them any more. Hosts already registered
 * stay registered. Returns an error to retry, or undefined.
 */
export async function deleteManagedActivations(input: { client: KubeClient; ssm: SsmApi; namespace: string; config: SsmAgentConfig; clusterName?: string }): Promise<string | undefined> {
  const name = input.config.spec.registration.activation?.managed ? activationSecretName(input.config) : undefined;
  if (!name) return undefined;
  try {
    const stored = storedActivation(await readSecret(input.client, input.namespace, name));
    for (const id of [...(stored?.previousIds ?? []), ...(stored ? [stored.id] : [])]) await input.ssm.deleteActivation(id);
    // and any orphan of this config (its code was never stored, so nothing can use it)
    if (input.clusterName !== undefined) {
      const config = input.config.metadata.name;
      for (const a of await input.ssm.listActivationsNamed(config)) {
        if (a.tags[TAG_CLUSTER] === input.clusterName && a.tags[TAG_CONFIG] === config) await input.ssm.deleteActivation(a.id);
      }
    }
    return undefined;
  } catch (err) {
    return `deleting the managed activation: ${errorMessage(err)}`;
  }
}
