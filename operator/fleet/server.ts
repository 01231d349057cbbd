// The operator's end of the fleet channel: a TLS WebSocket server (`ws` on an https server), its lifecycle, and
// the one register of which connection is each node's current one. It only wires: who may upgrade is decided in
// upgrade-auth.ts, what one connection may say in connection.ts. Bounds that protect the process as a whole (TLS
// connections open at once, header and handshake time, silence past three heartbeats) live here because only the
// server sees every socket.
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { KubeClient } from '../kube/client.ts';
import { FLEET_CLOSE, FLEET_DEFAULT_HEARTBEAT_SECONDS, FLEET_MAX_MESSAGE_BYTES, FLEET_PATH, FLEET_PROTOCOL_VERSION, type NodeState } from '../api/fleet-protocol.ts';
import type { AgentIdentity } from './auth.ts';
import { AgentConnection, type ConnectionEvents, type StateUpdate } from './connection.ts';
import { fleetMetrics, type FleetMetrics } from './metrics.ts';
import type { RateLimit } from './rate-limit.ts';
import { UpgradeAuth } from './upgrade-auth.ts';

export type { StateUpdate } from './connection.ts';

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

export class FleetServer {
  private readonly opts: FleetServerOptions;
  private readonly https: https.Server;
  private readonly wss: WebSocketServer;
  private readonly metrics: FleetMetrics;
  private readonly heartbeatMs: number;
  private readonly auth: UpgradeAuth;
  private readonly events: ConnectionEvents;
  private readonly byNode = new Map<string, AgentConnection>();
  private readonly all = new Set<AgentConnection>();
  private sweeper?: NodeJS.Timeout;
  private closing?: Promise<void>;
  private drained?: () => void;

  private constructor(opts: FleetServerOptions) {
    this.opts = opts;
    this.metrics = fleetMetrics(opts.registry);
    this.heartbeatMs = (opts.heartbeatSeconds ?? FLEET_DEFAULT_HEARTBEAT_SECONDS) * 1000;
    this.auth = new UpgradeAuth({ ...opts, metrics: this.metrics });
    this.events = {
      registered: (conn) => this.register(conn),
      state: (conn, state, update) => this.notifyState(conn, state, update),
      closed: (conn, code, reason) => this.onClose(conn, code, reason),
    };
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
    return conn.send({ v: FLEET_PROTOCOL_VERSION, type: 'probe-now' });
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
      for (const conn of this.all) conn.close(FLEET_CLOSE.goingAway, 'shutdown', 'the operator is shutting down');
      this.https.closeIdleConnections();
      const force = setTimeout(() => {
        for (const conn of this.all) conn.terminate();
        this.https.closeAllConnections();
      }, 2_000);
      // Every connection's close (and so onDisconnect) has run when this resolves.
      await Promise.all([listenerClosed, drained]);
      clearTimeout(force);
      this.metrics.connected.set(0);
    })();
    return this.closing;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const admitted = await this.auth.admit(req, socket, () => this.closing !== undefined);
    if (!admitted) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, admitted.identity, admitted.remote));
  }

  private accept(ws: WebSocket, identity: AgentIdentity, remote: string): void {
    const conn = new AgentConnection(ws, identity, remote, {
      log: this.opts.log,
      metrics: this.metrics,
      heartbeatMs: this.heartbeatMs,
      helloTimeoutMs: this.opts.helloTimeoutMs ?? 10_000,
      messageLimit: this.opts.messagesPerConnection ?? { burst: 60, perSecond: 2 },
      events: this.events,
    });
    this.all.add(conn);
    this.opts.log.debug({ node: identity.node, config: identity.config, nodeBinding: identity.nodeBinding, remote }, 'fleet connection authenticated');
  }

  /** A hello was accepted: the node's older connection, if any, is replaced. */
  private register(conn: AgentConnection): void {
    const node = conn.identity.node;
    const previous = this.byNode.get(node);
    this.byNode.set(node, conn);
    if (previous && previous !== conn) previous.close(FLEET_CLOSE.replaced, 'replaced', 'replaced by a newer connection from the same node');
    this.metrics.connected.set(this.byNode.size);
  }

  private notifyState(conn: AgentConnection, state: NodeState, update: StateUpdate): void {
    if (!this.opts.onState) return;
    try {
      this.opts.onState(conn.identity.node, state, update);
    } catch (err) {
      this.opts.log.error({ node: conn.identity.node, err: (err as Error).message }, 'fleet onState handler failed');
    }
  }

  private onClose(conn: AgentConnection, code: number, reason: string): void {
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

  /** Closes connections silent for more than three heartbeat periods. */
  private sweep(): void {
    const limit = Date.now() - 3 * this.heartbeatMs;
    for (const conn of this.all) {
      if (conn.lastSeen < limit) {
        this.opts.log.warn({ node: conn.identity.node, silentMs: Date.now() - conn.lastSeen }, 'fleet connection silent for more than 3 heartbeats: closing');
        conn.close(FLEET_CLOSE.heartbeatTimeout, 'heartbeat_timeout', 'no message for more than 3 heartbeat periods');
      }
    }
  }
}
