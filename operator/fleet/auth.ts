// Who a fleet connection belongs to: a TokenReview status turned into an agent identity (the node its pod is bound
// to, the config its ServiceAccount serves), or a rejection with the HTTP status and the reason counted in
// ssm_operator_fleet_rejected_total. Pure but for the pod lookup, which only clusters before 1.30 need.
import { FLEET_TOKEN_AUDIENCE } from '../api/group.ts';
import type { KubeClient } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import { nodeAgentName } from '../manifests/names.ts';

export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
/** Extra fields of a TokenReview of a pod-bound ServiceAccount token (node-name since Kubernetes 1.30). */
export const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';
export const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
export const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';
const NODE_AGENT_PREFIX = nodeAgentName('');

export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

export type RejectReason =
  | 'bad_path'
  | 'busy'
  | 'no_token'
  | 'no_node'
  | 'unauthenticated'
  | 'audience'
  | 'not_node_agent'
  | 'not_bound'
  | 'node_mismatch'
  | 'review_failed'
  | 'rate_limited';

export interface Rejection {
  ok: false;
  status: 400 | 401 | 403 | 404 | 429 | 503;
  reason: RejectReason;
  message: string;
}

/** Who a token belongs to, once reviewed: the node its pod is bound to, and the config its ServiceAccount serves. */
export interface AgentIdentity {
  node: string;
  config: string;
  serviceAccount: string;
  pod?: string;
  /** How the node was learned: the TokenReview's node-name claim, or a lookup of the bound pod. */
  nodeBinding: 'node-name-claim' | 'pod-lookup';
}

export type IdentityResult = { ok: true; identity: AgentIdentity } | Rejection;

export const reject = (status: Rejection['status'], reason: RejectReason, message: string): Rejection => ({ ok: false, status, reason, message });

/**
 * Turns a TokenReview status into an agent identity, or a rejection. `podNode` reads a pod of the namespace (only
 * used when the review carries no node-name claim, as on clusters before 1.30).
 */
export async function identityFromReview(
  status: TokenReviewStatus,
  ctx: { namespace: string; audience?: string; podNode(pod: string): Promise<{ nodeName?: string; uid?: string } | undefined> },
): Promise<IdentityResult> {
  const audience = ctx.audience ?? FLEET_TOKEN_AUDIENCE;
  if (!status.authenticated) {
    const error = status.error ?? 'not authenticated';
    return /audience/i.test(error) ? reject(401, 'audience', `the token is not for audience ${audience}`) : reject(401, 'unauthenticated', 'the token is not valid');
  }
  // An audience-unaware authenticator (a static token, a webhook) may say yes without looking at the audience.
  if (!status.audiences?.includes(audience)) return reject(401, 'audience', `the token is not for audience ${audience}`);
  const username = status.user?.username ?? '';
  const prefix = `system:serviceaccount:${ctx.namespace}:`;
  const serviceAccount = username.startsWith(prefix) ? username.slice(prefix.length) : '';
  const config = serviceAccount.startsWith(NODE_AGENT_PREFIX) ? serviceAccount.slice(NODE_AGENT_PREFIX.length) : '';
  if (!config) return reject(403, 'not_node_agent', `${username || 'this user'} is not a node agent ServiceAccount (${prefix}${NODE_AGENT_PREFIX}*)`);
  const extra = status.user?.extra ?? {};
  const pod = extra[EXTRA_POD_NAME]?.[0];
  const claimedNode = extra[EXTRA_NODE_NAME]?.[0];
  if (claimedNode) return { ok: true, identity: { node: claimedNode, config, serviceAccount, pod, nodeBinding: 'node-name-claim' } };
  if (!pod) return reject(403, 'not_bound', 'the token is not bound to a pod');
  const found = await ctx.podNode(pod);
  const podUid = extra[EXTRA_POD_UID]?.[0];
  if (!found || (podUid && found.uid !== podUid)) return reject(403, 'not_bound', `the pod ${pod} the token is bound to no longer exists`);
  if (!found.nodeName) return reject(403, 'not_bound', `the pod ${pod} is not scheduled to a node`);
  return { ok: true, identity: { node: found.nodeName, config, serviceAccount, pod, nodeBinding: 'pod-lookup' } };
}

/** The node a pod of the namespace runs on (and its uid); undefined when there is no such pod. Needs `get pods`. */
export async function lookupPodNode(client: KubeClient, namespace: string, pod: string): Promise<{ nodeName?: string; uid?: string } | undefined> {
  const found = await kube.getOptional<{ metadata?: { uid?: string }; spec?: { nodeName?: string } }>(client, RESOURCES.pod, { namespace, name: pod });
  return found ? { nodeName: found.spec?.nodeName, uid: found.metadata?.uid } : undefined;
}
