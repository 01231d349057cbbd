// Whether an upgrade request becomes an agent's connection, decided before any WebSocket exists, so that nothing
// unauthenticated ever reaches the protocol: the agent's projected ServiceAccount token (audience
// FLEET_TOKEN_AUDIENCE) is checked with a TokenReview, the user must be a `ssm-node-agent-*` ServiceAccount of the
// operator's namespace, and the token must be bound to a pod on the node the agent claims (FLEET_NODE_HEADER).
// Anything else is answered 4xx/503 and counted in ssm_operator_fleet_rejected_total{reason}. Reviews are the API
// server's cost, so answers are cached and a source that keeps failing is refused without one.
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { FLEET_NODE_HEADER, FLEET_PATH } from '../api/fleet-protocol.ts';
import { FLEET_TOKEN_AUDIENCE } from '../api/group.ts';
import type { KubeClient } from '../kube/client.ts';
import { identityFromReview, lookupPodNode, reject, TOKEN_REVIEW_PATH, type AgentIdentity, type IdentityResult, type Rejection, type TokenReviewStatus } from './auth.ts';
import type { FleetMetrics } from './metrics.ts';
import { KeyedRateLimiter, type RateLimit } from './rate-limit.ts';
import { ReviewCache, tokenKey } from './review-cache.ts';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

export interface UpgradeAuthOptions {
  client: KubeClient;
  namespace: string;
  log: Logger;
  metrics: FleetMetrics;
  reviewCacheMs?: number;
  failedReviewCacheMs?: number;
  maxPendingUpgrades?: number;
  failedReviewsPerSource?: RateLimit;
}

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** What an upgrade request says before anything is reviewed. */
export interface UpgradeClaim {
  remote: string;
  /** The node named in FLEET_NODE_HEADER ('' when none). */
  claimed: string;
}

/**
 * The checks that need no TokenReview, in the order they are answered: the token when the request may be reviewed,
 * else why not. `closing` and `busy` (too many upgrades being authenticated) are the server's state, passed in.
 */
export function precheckUpgrade(req: { url?: string; headers: { authorization?: string } }, claimed: string, state: { closing: boolean; busy: boolean }): { ok: true; token: string } | Rejection {
  if (state.closing) return reject(503, 'busy', 'the operator is shutting down');
  const path = new URL(req.url ?? '/', 'https://fleet.invalid').pathname;
  if (path !== FLEET_PATH) return reject(404, 'bad_path', `the fleet channel is at ${FLEET_PATH}`);
  const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!auth?.[1]) return reject(401, 'no_token', 'send the projected ServiceAccount token as Authorization: Bearer');
  if (!NODE_NAME.test(claimed) || claimed.length > 253) return reject(400, 'no_node', `name the node in the ${FLEET_NODE_HEADER} header`);
  if (state.busy) return reject(503, 'busy', 'too many connections being authenticated; retry');
  return { ok: true, token: auth[1] };
}

/** The raw HTTP answer to a refused upgrade (the socket has no HTTP response object: it is mid-upgrade). */
export function refusalResponse(rejection: Rejection): string {
  const body = `${rejection.message}\n`;
  return (
    `HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status] ?? ''}\r\n` +
    'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
    (rejection.status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

export class UpgradeAuth {
  private readonly opts: UpgradeAuthOptions;
  private readonly cache: ReviewCache;
  private readonly failedBySource: KeyedRateLimiter;
  private pending = 0;
  private reviewsInFlight = 0;
  private reviewsInFlightPeak = 0;

  constructor(opts: UpgradeAuthOptions) {
    this.opts = opts;
    this.cache = new ReviewCache({ ttlMs: opts.reviewCacheMs ?? 30_000, failedTtlMs: opts.failedReviewCacheMs ?? 10_000 });
    this.failedBySource = new KeyedRateLimiter(opts.failedReviewsPerSource ?? { burst: 20, perSecond: 1 });
  }

  /**
   * The identity of an upgrade that may proceed, or undefined when it was refused (answered and counted here) or
   * the server began closing while it was reviewed (the socket is destroyed).
   */
  async admit(req: IncomingMessage, socket: Duplex, closing: () => boolean): Promise<{ identity: AgentIdentity; remote: string } | undefined> {
    socket.on('error', () => socket.destroy());
    // The request is complete: the idle timeout is for clients that never send one, not for a slow TokenReview.
    if (socket instanceof Socket) socket.setTimeout(0);
    const claim: UpgradeClaim = { remote: req.socket.remoteAddress ?? 'unknown', claimed: String(req.headers[FLEET_NODE_HEADER] ?? '') };
    const pre = precheckUpgrade(req, claim.claimed, { closing: closing(), busy: this.pending >= (this.opts.maxPendingUpgrades ?? 256) });
    if (!pre.ok) return void this.refuse(socket, claim, pre);
    this.pending++;
    let result: IdentityResult;
    try {
      result = await this.authenticate(pre.token, claim.remote);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'fleet TokenReview failed');
      result = reject(503, 'review_failed', 'the token could not be reviewed; retry');
    } finally {
      this.pending--;
    }
    if (!result.ok) return void this.refuse(socket, claim, result);
    const { identity } = result;
    if (identity.node !== claim.claimed) {
      return void this.refuse(socket, claim, reject(403, 'node_mismatch', `the token is bound to node ${identity.node}, not ${claim.claimed}`), identity);
    }
    if (closing() || socket.destroyed) return void socket.destroy();
    return { identity, remote: claim.remote };
  }

  private refuse(socket: Duplex, { remote, claimed }: UpgradeClaim, rejection: Rejection, identity?: AgentIdentity): void {
    this.opts.metrics.rejected.inc({ reason: rejection.reason });
    this.opts.log.warn(
      { reason: rejection.reason, status: rejection.status, remote, claimedNode: claimed || undefined, serviceAccount: identity?.serviceAccount, boundNode: identity?.node },
      `fleet connection rejected: ${rejection.message}`,
    );
    if (!socket.writable) return void socket.destroy();
    socket.end(refusalResponse(rejection));
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  /**
   * TokenReview, with answers cached briefly by the token's hash (refusals for less time). A source whose failures
   * are over its budget gets 429 without a review: a stream of garbage tokens cannot become a stream of reviews.
   */
  private async authenticate(token: string, remote: string): Promise<IdentityResult> {
    const { metrics, client, namespace } = this.opts;
    const key = tokenKey(token);
    const now = Date.now();
    const hit = this.cache.get(key, now);
    if (hit) return hit;
    if (!this.failedBySource.allows(remote, now)) return reject(429, 'rate_limited', 'too many failed authentications from this address; retry later');
    this.reviewsInFlight++;
    if (this.reviewsInFlight > this.reviewsInFlightPeak) metrics.reviewsInFlightPeak.set((this.reviewsInFlightPeak = this.reviewsInFlight));
    metrics.reviewsInFlight.set(this.reviewsInFlight);
    let status: TokenReviewStatus;
    try {
      const review = await client.request<{ status?: TokenReviewStatus }>('POST', TOKEN_REVIEW_PATH, {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [FLEET_TOKEN_AUDIENCE] } },
        timeoutMs: 10_000,
      });
      status = review.status ?? {};
    } catch (err) {
      metrics.reviews.inc({ result: 'error' });
      throw err;
    } finally {
      metrics.reviewsInFlight.set(--this.reviewsInFlight);
    }
    const result = await identityFromReview(status, { namespace, podNode: (pod) => lookupPodNode(client, namespace, pod) });
    metrics.reviews.inc({ result: result.ok ? 'accepted' : 'refused' });
    this.cache.set(key, token, result, Date.now());
    if (!result.ok) this.failedBySource.take(remote, Date.now());
    else if (result.identity.nodeBinding === 'pod-lookup') {
      this.opts.log.debug({ pod: result.identity.pod, node: result.identity.node }, 'fleet token has no node-name claim; node read from its pod');
    }
    return result;
  }
}
