// The operator's end of the fleet channel: a TLS WebSocket server (`ws` on an https server).
//
// Authentication happens on the upgrade request, before any WebSocket exists: the agent's projected
// ServiceAccount token (audience FLEET_TOKEN_AUDIENCE) is checked with a TokenReview, the user must be a
// `ssm-node-agent-*` ServiceAccount of the operator's namespace, and the token must be bound to a pod on the node
// the agent claims (FLEET_NODE_HEADER). Anything else is answered 401/403 and counted in
// ssm_operator_fleet_rejected_total{reason}. After the upgrade, a frame that is not a valid message closes that
// one connection (1008; 1009 when it is too large) and nothing else.
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { Socket, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { FLEET_TOKEN_AUDIENCE } from '../api/group.ts';
import type { KubeClient } from '../kube/client.ts';
import { identityFromReview, lookupPodNode, reject, TOKEN_REVIEW_PATH, type AgentIdentity, type IdentityResult, type Rejection, type TokenReviewStatus } from './auth.ts';
import { fleetMetrics, type FleetMetrics } from './metrics.ts';
import {
  closeCodeFor,
  encodeMessage,
  FLEET_CLOSE,
  FLEET_DEFAULT_HEARTBEAT_SECONDS,
  FLEET_MAX_MESSAGE_BYTES,
  FLEET_NODE_HEADER,
  FLEET_PATH,
  FLEET_PROTOCOL_VERSION,
  mergeNodeState,
  parseAgentMessage,
  type HelloMessage,
  type NodeState,
  type NodeStateSection,
  type OperatorMessage,
} from '../api/fleet-protocol.ts';
import { KeyedRateLimiter, TokenBucket, type RateLimit } from './rate-limit.ts';
import { ReviewCache, tokenKey } from './review-cache.ts';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

export interface StateUpdate {
  kind: 'hello' | 'state';
  /** The sections this message carried. */
  sections: NodeStateSection[];
  config: string;
  nodeAgentVersion?: string;
  agentVersion?: string;
}

export interface FleetServerOptions {
  /** For TokenReviews (and pod lookups on clusters without the node-name claim). */
  client: KubeClient;
  /** The operator's namespace: node agents' ServiceAccounts and pods live there. */
  namespace: string;
  tls: { cert: string; key: string };
  /** 0 picks a free port (see `port`). */
  port: number;
  /** Default: every interface. */
  host?: string;
  log: Logger;
  registry: Registry;
  /** The heartbeat period asked of agents; a connection silent for more than 3 of them is closed. Default 60. */
  heartbeatSeconds?: number;
  /** How long a positive TokenReview is reused (never past the token's expiry). Default 30 s. */
  reviewCacheMs?: number;
  /** How long a new connection may take to say hello. Default 10 s. */
  helloTimeoutMs?: number;
  /** Upgrades being authenticated at once, above which new ones get 503. Default 256. */
  maxPendingUpgrades?: number;
  /** How long a refused token is answered from the cache instead of a new TokenReview. Default 10 s. */
  failedReviewCacheMs?: number;
  /** TLS connections open at once (agents, handshakes, refusals); more are dropped as they arrive. Default 10,000. */
  maxConnections?: number;
  /** How long a client may take to send its upgrade request's headers (from connecting). Default 10 s. */
  headersTimeoutMs?: number;
  /** Failed authentications per source address; past the budget, 429 without a TokenReview. Default 20, then 1/s. */
  failedReviewsPerSource?: RateLimit;
  /** Messages per connection; past the budget the connection is closed (1008). Default 60, then 2/s. */
  messagesPerConnection?: RateLimit;
  /** Told the node's whole (merged) state after every hello and state message. */
  onState?(node: string, state: NodeState, update: StateUpdate): void;
  /** Told when a node's registered connection ends (not when it is replaced by a newer one from the same node). */
  onDisconnect?(node: string): void;
}

interface Connection {
  ws: WebSocket;
  identity: AgentIdentity;
  remote: string;
  hello?: HelloMessage;
  state: NodeState;
  lastSeen: number;
  timers: NodeJS.Timeout[];
  messages: TokenBucket;
}

/** A WebSocket close reason is at most 123 bytes. */
function closeReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out, 'utf8') > 123) out = out.slice(0, -1);
  return out;
}

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class FleetServer {
  private readonly opts: FleetServerOptions;
  private readonly https: https.Server;
  private readonly wss: WebSocketServer;
  private readonly metrics: FleetMetrics;
  private readonly heartbeatMs: number;
  private readonly byNode = new Map<string, Connection>();
  private readonly all = new Set<Connection>();
  private readonly cache: ReviewCache;
  private readonly failedBySource: KeyedRateLimiter;
  private readonly messageLimit: RateLimit;
  private pending = 0;
  private reviewsInFlight = 0;
  private reviewsInFlightPeak = 0;
  private sweeper?: NodeJS.Timeout;
  private closing?: Promise<void>;
  private drained?: () => void;

  private constructor(opts: FleetServerOptions) {
    this.opts = opts;
    this.metrics = fleetMetrics(opts.registry);
    this.heartbeatMs = (opts.heartbeatSeconds ?? FLEET_DEFAULT_HEARTBEAT_SECONDS) * 1000;
    this.cache = new ReviewCache({ ttlMs: opts.reviewCacheMs ?? 30_000, failedTtlMs: opts.failedReviewCacheMs ?? 10_000 });
    this.failedBySource = new KeyedRateLimiter(opts.failedReviewsPerSource ?? { burst: 20, perSecond: 1 });
    this.messageLimit = opts.messagesPerConnection ?? { burst: 60, perSecond: 2 };
    const headersTimeout = opts.headersTimeoutMs ?? 10_000;
    this.https = https.createServer(
      {
        cert: opts.tls.cert,
        key: opts.tls.key,
        minVersion: 'TLSv1.2',
        handshakeTimeout: 10_000,
        // A client that connects and then dribbles (or never sends) its request is cut off; Node checks the
        // connections it tracks every connectionsCheckingInterval. Upgraded sockets belong to ws, which has its own.
        headersTimeout,
        requestTimeout: headersTimeout + 5_000,
        connectionsCheckingInterval: Math.max(100, Math.min(1_000, headersTimeout / 4)),
        keepAliveTimeout: 1_000,
      },
      (_req, res) => {
        res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'Upgrade' }).end(`the fleet channel is a WebSocket at ${FLEET_PATH}\n`);
      },
    );
    // A connection that sends nothing at all is not a request yet, so headersTimeout does not see it: idle time does.
    this.https.timeout = headersTimeout;
    this.https.maxConnections = opts.maxConnections ?? 10_000;
    this.https.on('drop', (data?: { remoteAddress?: string }) => {
      this.metrics.rejected.inc({ reason: 'connection_cap' });
      this.opts.log.warn({ remote: data?.remoteAddress, maxConnections: this.https.maxConnections }, 'fleet connection dropped: the connection cap is reached');
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: FLEET_MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
    this.https.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((err: unknown) => {
        this.opts.log.error({ err: (err as Error).message }, 'fleet upgrade failed');
        socket.destroy();
      });
    });
    this.https.on('tlsClientError', (err, socket) => {
      this.opts.log.debug({ err: err.message, remote: socket.remoteAddress }, 'fleet TLS handshake failed');
    });
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(opts: FleetServerOptions): Promise<FleetServer> {
    const server = new FleetServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.https.once('error', reject);
      server.https.listen(opts.port, opts.host, () => {
        server.https.off('error', reject);
        resolve();
      });
    });
    server.https.on('error', (err) => opts.log.error({ err: err.message }, 'fleet server error'));
    server.metrics.connected.set(0);
    const sweepMs = Math.min(Math.max(server.heartbeatMs / 2, 250), 30_000);
    server.sweeper = setInterval(() => server.sweep(), sweepMs);
    server.sweeper.unref();
    opts.log.info({ port: server.port, heartbeatSeconds: server.heartbeatMs / 1000 }, 'fleet server listening');
    return server;
  }

  get port(): number {
    return (this.https.address() as AddressInfo).port;
  }

  /** Nodes with a connection that said hello. */
  connectedNodes(): string[] {
    return [...this.byNode.keys()].sort();
  }

  /** The last state a node reported on its current connection. */
  nodeState(node: string): NodeState | undefined {
    return this.byNode.get(node)?.state;
  }

  /** Asks a node's agent to probe its endpoints now; false when that node is not connected. */
  requestProbe(node: string): boolean {
    const conn = this.byNode.get(node);
    if (!conn) return false;
    return this.send(conn, { v: FLEET_PROTOCOL_VERSION, type: 'probe-now' });
  }

  /** Serves a renewed certificate to new connections (existing ones keep theirs). */
  updateTls(tls: { cert: string; key: string }): void {
    this.https.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
  }

  /** Stops accepting, closes every connection (agents reconnect elsewhere or later), resolves when all are gone. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      const listenerClosed = new Promise<void>((resolve) => this.https.close(() => resolve()));
      const drained = new Promise<void>((resolve) => {
        this.drained = resolve;
        if (this.all.size === 0) resolve();
      });
      for (const conn of this.all) this.closeConnection(conn, FLEET_CLOSE.goingAway, 'shutdown', 'the operator is shutting down');
      this.https.closeIdleConnections();
      const force = setTimeout(() => {
        for (const conn of this.all) conn.ws.terminate();
        this.https.closeAllConnections();
      }, 2_000);
      // Every connection's close (and so onDisconnect) has run when this resolves.
      await Promise.all([listenerClosed, drained]);
      clearTimeout(force);
      this.metrics.connected.set(0);
    })();
    return this.closing;
  }

  // ---- upgrade: authenticate, then hand to ws ----------------------------------------------------------------

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    // The request is complete: the idle timeout is for clients that never send one, not for a slow TokenReview.
    if (socket instanceof Socket) socket.setTimeout(0);
    const remote = req.socket.remoteAddress ?? 'unknown';
    const claimed = String(req.headers[FLEET_NODE_HEADER] ?? '');
    if (this.closing) return this.refuse(socket, remote, claimed, reject(503, 'busy', 'the operator is shutting down'));
    const path = new URL(req.url ?? '/', 'https://fleet.invalid').pathname;
    if (path !== FLEET_PATH) return this.refuse(socket, remote, claimed, reject(404, 'bad_path', `the fleet channel is at ${FLEET_PATH}`));
    const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!auth?.[1]) return this.refuse(socket, remote, claimed, reject(401, 'no_token', 'send the projected ServiceAccount token as Authorization: Bearer'));
    if (!NODE_NAME.test(claimed) || claimed.length > 253) {
      return this.refuse(socket, remote, claimed, reject(400, 'no_node', `name the node in the ${FLEET_NODE_HEADER} header`));
    }
    if (this.pending >= (this.opts.maxPendingUpgrades ?? 256)) return this.refuse(socket, remote, claimed, reject(503, 'busy', 'too many connections being authenticated; retry'));
    this.pending++;
    let result: IdentityResult;
    try {
      result = await this.authenticate(auth[1], remote);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'fleet TokenReview failed');
      result = reject(503, 'review_failed', 'the token could not be reviewed; retry');
    } finally {
      this.pending--;
    }
    if (!result.ok) return this.refuse(socket, remote, claimed, result);
    const { identity } = result;
    if (identity.node !== claimed) {
      return this.refuse(socket, remote, claimed, reject(403, 'node_mismatch', `the token is bound to node ${identity.node}, not ${claimed}`), identity);
    }
    if (this.closing || socket.destroyed) return void socket.destroy();
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, identity, remote));
  }

  private refuse(socket: Duplex, remote: string, claimed: string, rejection: Rejection, identity?: AgentIdentity): void {
    this.metrics.rejected.inc({ reason: rejection.reason });
    this.opts.log.warn(
      { reason: rejection.reason, status: rejection.status, remote, claimedNode: claimed || undefined, serviceAccount: identity?.serviceAccount, boundNode: identity?.node },
      `fleet connection rejected: ${rejection.message}`,
    );
    if (!socket.writable) return void socket.destroy();
    const body = `${rejection.message}\n`;
    socket.end(
      `HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status] ?? ''}\r\n` +
        'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        (rejection.status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '') +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  /**
   * TokenReview, with answers cached briefly by the token's hash (refusals for less time). A source whose failures
   * are over its budget gets 429 without a review: a stream of garbage tokens cannot become a stream of reviews.
   */
  private async authenticate(token: string, remote: string): Promise<IdentityResult> {
    const key = tokenKey(token);
    const now = Date.now();
    const hit = this.cache.get(key, now);
    if (hit) return hit;
    if (!this.failedBySource.allows(remote, now)) return reject(429, 'rate_limited', 'too many failed authentications from this address; retry later');
    this.reviewsInFlight++;
    if (this.reviewsInFlight > this.reviewsInFlightPeak) this.metrics.reviewsInFlightPeak.set((this.reviewsInFlightPeak = this.reviewsInFlight));
    this.metrics.reviewsInFlight.set(this.reviewsInFlight);
    let status: TokenReviewStatus;
    try {
      const review = await this.opts.client.request<{ status?: TokenReviewStatus }>('POST', TOKEN_REVIEW_PATH, {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [FLEET_TOKEN_AUDIENCE] } },
        timeoutMs: 10_000,
      });
      status = review.status ?? {};
    } catch (err) {
      this.metrics.reviews.inc({ result: 'error' });
      throw err;
    } finally {
      this.metrics.reviewsInFlight.set(--this.reviewsInFlight);
    }
    const result = await identityFromReview(status, { namespace: this.opts.namespace, podNode: (pod) => lookupPodNode(this.opts.client, this.opts.namespace, pod) });
    this.metrics.reviews.inc({ result: result.ok ? 'accepted' : 'refused' });
    this.cache.set(key, token, result, Date.now());
    if (!result.ok) this.failedBySource.take(remote, Date.now());
    else if (result.identity.nodeBinding === 'pod-lookup') {
      this.opts.log.debug({ pod: result.identity.pod, node: result.identity.node }, 'fleet token has no node-name claim; node read from its pod');
    }
    return result;
  }

  // ---- connections --------------------------------------------------------------------------------------------

  private accept(ws: WebSocket, identity: AgentIdentity, remote: string): void {
    const conn: Connection = { ws, identity, remote, state: {}, lastSeen: Date.now(), timers: [], messages: new TokenBucket(this.messageLimit, Date.now()) };
    this.all.add(conn);
    const helloTimeout = setTimeout(() => {
      if (!conn.hello) this.violation(conn, 'hello_timeout', FLEET_CLOSE.violation, 'no hello within the time allowed');
    }, this.opts.helloTimeoutMs ?? 10_000);
    conn.timers.push(helloTimeout);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      // ws reports an oversized frame here (and closes with 1009 itself).
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.metrics.closed.inc({ reason: 'too_large' });
        this.opts.log.warn({ node: identity.node, remote }, `fleet message larger than ${FLEET_MAX_MESSAGE_BYTES} bytes: connection closed`);
      } else {
        this.opts.log.debug({ node: identity.node, err: err.message }, 'fleet connection error');
      }
    });
    ws.on('close', (code: number, reason: Buffer) => this.onClose(conn, code, reason.toString('utf8')));
    this.opts.log.debug({ node: identity.node, config: identity.config, nodeBinding: identity.nodeBinding, remote }, 'fleet connection authenticated');
  }

  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (!conn.messages.take(Date.now())) {
      return this.violation(conn, 'rate_limited', FLEET_CLOSE.violation, `too many messages (more than ${this.messageLimit.burst} at once or ${this.messageLimit.perSecond}/s)`);
    }
    if (isBinary) return this.violation(conn, 'invalid', FLEET_CLOSE.violation, 'binary frames are not part of the protocol');
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const parsed = parseAgentMessage(raw);
    if (!parsed.ok) return this.violation(conn, parsed.code, closeCodeFor(parsed.code), parsed.error);
    conn.lastSeen = Date.now();
    const message = parsed.message;
    switch (message.type) {
      case 'hello':
        return this.onHello(conn, message);
      case 'state': {
        if (!conn.hello) return this.violation(conn, 'hello_expected', FLEET_CLOSE.violation, 'the first message must be hello');
        conn.state = mergeNodeState(conn.state, message.state);
        this.notifyState(conn, 'state', Object.keys(message.state) as NodeStateSection[]);
        return;
      }
      case 'heartbeat':
        if (!conn.hello) return this.violation(conn, 'hello_expected', FLEET_CLOSE.violation, 'the first message must be hello');
        return;
    }
  }

  private onHello(conn: Connection, hello: HelloMessage): void {
    const { identity } = conn;
    if (conn.hello) return this.violation(conn, 'hello_repeated', FLEET_CLOSE.violation, 'hello was already said on this connection');
    if (hello.node !== identity.node) return this.violation(conn, 'node_mismatch', FLEET_CLOSE.violation, `hello names node ${hello.node}, the token is bound to ${identity.node}`);
    if (hello.config !== identity.config) {
      return this.violation(conn, 'config_mismatch', FLEET_CLOSE.violation, `hello names config ${hello.config}, the ServiceAccount ${identity.serviceAccount} serves ${identity.config}`);
    }
    conn.hello = hello;
    conn.state = hello.state;
    const previous = this.byNode.get(identity.node);
    this.byNode.set(identity.node, conn);
    if (previous && previous !== conn) this.closeConnection(previous, FLEET_CLOSE.replaced, 'replaced', 'replaced by a newer connection from the same node');
    this.metrics.connected.set(this.byNode.size);
    this.send(conn, { v: FLEET_PROTOCOL_VERSION, type: 'welcome', node: identity.node, heartbeatSeconds: Math.round(this.heartbeatMs / 1000) });
    this.opts.log.info(
      { node: identity.node, config: identity.config, nodeAgentVersion: hello.nodeAgentVersion, agentVersion: hello.agentVersion, nodeBinding: identity.nodeBinding, remote: conn.remote },
      'node agent connected',
    );
    this.notifyState(conn, 'hello', Object.keys(hello.state) as NodeStateSection[]);
  }

  private notifyState(conn: Connection, kind: StateUpdate['kind'], sections: NodeStateSection[]): void {
    if (!this.opts.onState || !conn.hello) return;
    try {
      this.opts.onState(conn.identity.node, conn.state, {
        kind,
        sections,
        config: conn.identity.config,
        nodeAgentVersion: conn.hello.nodeAgentVersion,
        agentVersion: conn.hello.agentVersion ?? conn.state.observation?.version,
      });
    } catch (err) {
      this.opts.log.error({ node: conn.identity.node, err: (err as Error).message }, 'fleet onState handler failed');
    }
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    for (const timer of conn.timers) clearTimeout(timer);
    this.all.delete(conn);
    if (this.all.size === 0) this.drained?.();
    const node = conn.identity.node;
    if (this.byNode.get(node) !== conn) return;
    this.byNode.delete(node);
    this.metrics.connected.set(this.byNode.size);
    this.opts.log.info({ node, code, reason: reason || undefined }, 'node agent disconnected');
    try {
      this.opts.onDisconnect?.(node);
    } catch (err) {
      this.opts.log.error({ node, err: (err as Error).message }, 'fleet onDisconnect handler failed');
    }
  }

  /** A protocol violation: say why (when the socket still takes it), count it, close this connection only. */
  private violation(conn: Connection, reason: string, code: ReturnType<typeof closeCodeFor>, message: string): void {
    this.opts.log.warn({ node: conn.identity.node, remote: conn.remote, reason }, `fleet protocol violation: ${message}`);
    this.send(conn, { v: FLEET_PROTOCOL_VERSION, type: 'error', code: reason, message: message.slice(0, 1000) });
    this.closeConnection(conn, code, reason, message);
  }

  private closeConnection(conn: Connection, code: number, reason: string, message: string): void {
    if (conn.ws.readyState === WebSocket.CLOSING || conn.ws.readyState === WebSocket.CLOSED) return;
    if (reason !== 'shutdown') this.metrics.closed.inc({ reason });
    conn.ws.close(code, closeReason(message));
    // A peer that never answers the close handshake is cut off.
    const kill = setTimeout(() => conn.ws.terminate(), 5_000);
    kill.unref();
    conn.timers.push(kill);
  }

  private send(conn: Connection, message: OperatorMessage): boolean {
    if (conn.ws.readyState !== WebSocket.OPEN) return false;
    conn.ws.send(encodeMessage(message));
    return true;
  }

  /** Closes connections silent for more than three heartbeat periods. */
  private sweep(): void {
    const limit = Date.now() - 3 * this.heartbeatMs;
    for (const conn of this.all) {
      if (conn.lastSeen < limit) {
        this.opts.log.warn({ node: conn.identity.node, silentMs: Date.now() - conn.lastSeen }, 'fleet connection silent for more than 3 heartbeats: closing');
        this.closeConnection(conn, FLEET_CLOSE.heartbeatTimeout, 'heartbeat_timeout', 'no message for more than 3 heartbeat periods');
      }
    }
  }
}
