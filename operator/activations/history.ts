// Which activations a config has used: the ids of every activation the operator created for it (managed) or found
// in its Secret (secretRef), recorded on the config itself (annotation ssmagent.io/activation-ids, oldest first).
// An instance is this config's only if SSM says it registered with one of these: a node agent can report any mi- id,
// and another cluster's instances can carry the same tags, but ActivationId is set by SSM at registration.
// The list is capped: the oldest ids fall off, and their instances are then left alone (the safe side).
import { randomUUID } from 'node:crypto';
import { isConflict, type KubeClient } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';

export const ANNOTATION_ACTIVATION_IDS = 'ssmagent.io/activation-ids';
/** ~4 years of rotations every 23 days; an annotation stays far below its size limit. */
export const MAX_ACTIVATION_HISTORY = 64;

const ACTIVATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The recorded ids (malformed entries dropped). Pure. */
export function activationHistory(annotations: Readonly<Record<string, string>> | undefined): string[] {
  return (annotations?.[ANNOTATION_ACTIVATION_IDS] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => ACTIVATION_ID.test(s));
}

/** `history` with `ids` appended when missing, capped (oldest dropped); undefined when nothing changes. Pure. */
export function withActivationIds(history: readonly string[], ids: readonly string[]): string[] | undefined {
  const add = [...new Set(ids.filter((id) => ACTIVATION_ID.test(id) && !history.includes(id)))];
  if (add.length === 0) return undefined;
  return [...history, ...add].slice(-MAX_ACTIVATION_HISTORY);
}

/** Read-and-patch attempts of recordActivationIds on conflicts. */
const RECORD_ATTEMPTS = 5;

interface ConfigMeta {
  metadata: { resourceVersion?: string; annotations?: Record<string, string> };
}

/**
 * Records `ids` on the config (read fresh, patched with its resourceVersion so a concurrent change is not lost).
 * Returns the history after the write. Throws on failure: the caller must not hand out an activation it could
 * not record.
 */
export async function recordActivationIds(client: KubeClient, config: string, ids: readonly string[]): Promise<string[]> {
  // The controller writes the same object (status, finalizer): a conflict is read again and retried, not a failure
  // (after a CreateActivation, a failure here throws the new activation away).
  for (let attempt = 1; ; attempt++) {
    const live = await kube.get<ConfigMeta>(client, RESOURCES.ssmAgentConfig, { name: config });
    const history = activationHistory(live.metadata.annotations);
    const next = withActivationIds(history, ids);
    if (!next) return history;
    try {
      await kube.mergePatch(client, RESOURCES.ssmAgentConfig, { name: config }, { metadata: { resourceVersion: live.metadata.resourceVersion, annotations: { [ANNOTATION_ACTIVATION_IDS]: next.join(',') } } });
      return next;
    } catch (err) {
      if (!isConflict(err) || attempt >= RECORD_ATTEMPTS) throw err;
    }
  }
}

/**
 * Set on the config just before CreateActivation and cleared once the Secret names the new activation: when the
 * operator dies in between, the next pass knows an activation may exist that nothing names, and sweeps it without
 * waiting for the orphan age (activations/step.ts). The value is the time and the mark of the process that set it.
 */
export const ANNOTATION_ACTIVATION_INTENT = 'ssmagent.io/activation-creating';

/** This process's mark on its intents. An intent with another mark was left by a process that is gone (a restart, a
 * replica that lost the lease and exited): its pass is over however recent it is. */
export const PROCESS_MARK = randomUUID();

/** The intent annotation's value for a pass of this process starting at `at` (ISO). Pure. */
export const intentValue = (at: string): string => `${at} ${PROCESS_MARK}`;

/** An intent's time and whether this process set it; undefined when absent or unreadable (a bare time, as an older
 * operator wrote it, is another process's). Pure. */
export function parseIntent(value: string | undefined): { at: number; mine: boolean } | undefined {
  const [time, mark] = (value ?? '').trim().split(/\s+/, 2);
  const at = Date.parse(time ?? '');
  return Number.isFinite(at) ? { at, mine: mark === PROCESS_MARK } : undefined;
}

/** Sets (at an ISO time, with this process's mark) or clears (null) the intent annotation. Throws on failure. */
export async function setActivationIntent(client: KubeClient, config: string, at: string | null): Promise<void> {
  await kube.mergePatch(client, RESOURCES.ssmAgentConfig, { name: config }, { metadata: { annotations: { [ANNOTATION_ACTIVATION_INTENT]: at === null ? null : intentValue(at) } } });
}
