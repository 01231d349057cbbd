// Who may ask for a diagnosis: the caller's own bearer token (carried through the API server's proxy in
// CALLER_TOKEN_HEADER) is checked with a TokenReview, then a SubjectAccessReview asks the API server whether that
// user may `diagnose` the SsmAgentConfig the node belongs to (`diagnose` on ssmagentconfigs, a custom verb that
// RBAC grants like any other). No token, a bad token or no permission: refused.
import { GROUP as SSM_GROUP, PLURAL } from '../api/group.ts';
import type { KubeClient } from '../kube/client.ts';

export const DIAGNOSE_VERB = 'diagnose';
const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const SUBJECT_ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export interface Caller {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type AccessResult = { ok: true; caller: Caller } | { ok: false; status: 401 | 403 | 503; message: string };

/** The SubjectAccessReview body for a caller and a config (none: every config, as `--all` needs). Pure. */
export function accessReview(caller: Caller, config: string | undefined): object {
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: caller.username,
      ...(caller.uid ? { uid: caller.uid } : {}),
      ...(caller.groups ? { groups: caller.groups } : {}),
      ...(caller.extra ? { extra: caller.extra } : {}),
      resourceAttributes: { group: SSM_GROUP, resource: PLURAL, verb: DIAGNOSE_VERB, ...(config ? { name: config } : {}) },
    },
  };
}

/** What to tell a caller who was refused. Pure. */
export function deniedMessage(caller: Caller, config: string | undefined, reason?: string): string {
  const what = config ? `the SsmAgentConfig ${config}` : 'every SsmAgentConfig (--all)';
  return `${caller.username} may not diagnose ${what}: grant the verb "${DIAGNOSE_VERB}" on ssmagentconfigs.${SSM_GROUP} (the ClusterRole and Role ssm-agent-operator-diagnose in examples/rbac/diagnose.yaml)${reason ? ` (${reason})` : ''}`;
}

export async function checkAccess(client: KubeClient, token: string | undefined, config: string | undefined): Promise<AccessResult> {
  if (!token) return { ok: false, status: 401, message: `no caller token: send your bearer token in the X-Ssmagent-Caller-Token header (the ssm-agent-operator CLI does)` };
  let review: { status?: { authenticated?: boolean; user?: Caller; error?: string } };
  try {
    review = await client.request('POST', TOKEN_REVIEWS, { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }, timeoutMs: 10_000 });
  } catch (err) {
    return { ok: false, status: 503, message: `the caller's token could not be reviewed: ${(err as Error).message}` };
  }
  const user = review.status?.user;
  if (!review.status?.authenticated || !user?.username) return { ok: false, status: 401, message: 'the caller token is not valid' };
  let sar: { status?: { allowed?: boolean; reason?: string } };
  try {
    sar = await client.request('POST', SUBJECT_ACCESS_REVIEWS, { body: accessReview(user, config), timeoutMs: 10_000 });
  } catch (err) {
    return { ok: false, status: 503, message: `the caller's access could not be reviewed: ${(err as Error).message}` };
  }
  if (!sar.status?.allowed) return { ok: false, status: 403, message: deniedMessage(user, config, sar.status?.reason) };
  return { ok: true, caller: user };
}
