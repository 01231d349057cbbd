// One authenticated agent's connection, from the upgrade to its close. Every frame is hostile until parsed: a frame
// that is not a valid message, a connection that talks too fast, or one that never says hello closes this one
// connection (1008; 1009 when too large) and nothing else. What the server keeps across connections (which one is
// a node's current one) is the server's: this file tells it through `ConnectionEvents`.
import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import {
  closeCodeFor,
  encodeMessage,
  FLEET_CLOSE,
  FLEET_MAX_MESSAGE_BYTES,
  FLEET_PROTOCOL_VERSION,
  mergeNodeState,
  parseAgentMessage,
  type HelloMessage,
  type NodeState,
  type NodeStateSection,
  type OperatorMessage,
} from '../api/fleet-protocol.ts';
import type { AgentIdentity } from './auth.ts';
import type { FleetMetrics } from './metrics.ts';
import { TokenBucket, type RateLimit } from './rate-limit.ts';

export interface StateUpdate {
  kind: 'hello' | 'state';
  /** The sections this message carried. */
  sections: NodeStateSection[];
  config: string;
  nodeAgentVersion?: string;
  agentVersion?: string;
}

export type CloseCode = ReturnType<typeof closeCodeFor>;

export interface ConnectionEvents {
  /** The hello was accepted: this is now its node's connection (the welcome is sent after). */
  registered(conn: AgentConnection): void;
  /** The node's whole (merged) state after a hello or state message. */
  state(conn: AgentConnection, state: NodeState, update: StateUpdate): void;
  /** The socket closed, for whatever reason. */
  closed(conn: AgentConnection, code: number, reason: string): void;
}

export interface ConnectionOptions {
  log: Logger;
  metrics: FleetMetrics;
  heartbeatMs: number;
  helloTimeoutMs: number;
  messageLimit: RateLimit;
  events: ConnectionEvents;
}

/** A WebSocket close reason is at most 123 bytes. */
export function closeReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out, 'utf8') > 123) out = out.slice(0, -1);
  return out;
}

/** Why a hello cannot be accepted on this connection (the reason counted and the message sent), or undefined. */
export function helloViolation(hello: HelloMessage, identity: AgentIdentity, alreadySaid: boolean): { reason: string; message: string } | undefined {
  if (alreadySaid) return { reason: 'hello_repeated', message: 'hello was already said on this connection' };
  if (hello.node !== identity.node) return { reason: 'node_mismatch', message: `hello names node ${hello.node}, the token is bound to ${identity.node}` };
  if (hello.config !== identity.config) {
    return { reason: 'config_mismatch', message: `hello names config ${hello.config}, the ServiceAccount ${identity.serviceAccount} serves ${identity.config}` };
  }
  return undefined;
}

export class AgentConnection {
  readonly identity: AgentIdentity;
  readonly remote: string;
  hello?: HelloMessage;
  state: NodeState = {};
  lastSeen = Date.now();
  private readonly ws: WebSocket;
  private readonly opts: ConnectionOptions;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly messages: TokenBucket;

  constructor(ws: WebSocket, identity: AgentIdentity, remote: string, opts: ConnectionOptions) {
    this.identity = identity;
    this.remote = remote;
    this.messages = new TokenBucket(opts.messageLimit, this.lastSeen);
    this.ws = ws;
    this.opts = opts;
    const helloTimeout = setTimeout(() => {
      if (!this.hello) this.violation('hello_timeout', FLEET_CLOSE.violation, 'no hello within the time allowed');
    }, opts.helloTimeoutMs);
    this.timers.push(helloTimeout);
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      // ws reports an oversized frame here (and closes with 1009 itself).
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        opts.metrics.closed.inc({ reason: 'too_large' });
        opts.log.warn({ node: identity.node, remote }, `fleet message larger than ${FLEET_MAX_MESSAGE_BYTES} bytes: connection closed`);
      } else {
        opts.log.debug({ node: identity.node, err: err.message }, 'fleet connection error');
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      for (const timer of this.timers) clearTimeout(timer);
      opts.events.closed(this, code, reason.toString('utf8'));
    });
  }

  send(message: OperatorMessage): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encodeMessage(message));
    return true;
  }

  /** Starts the close handshake (counted by `reason`, except a shutdown); a peer that never answers it is cut off. */
  close(code: number, reason: string, message: string): void {
    if (this.ws.readyState === WebSocket.CLOSING || this.ws.readyState === WebSocket.CLOSED) return;
    if (reason !== 'shutdown') this.opts.metrics.closed.inc({ reason });
    this.ws.close(code, closeReason(message));
    const kill = setTimeout(() => this.ws.terminate(), 5_000);
    kill.unref();
    this.timers.push(kill);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.messages.take(Date.now())) {
      const limit = this.opts.messageLimit;
      return this.violation('rate_limited', FLEET_CLOSE.violation, `too many messages (more than ${limit.burst} at once or ${limit.perSecond}/s)`);
    }
    if (isBinary) return this.violation('invalid', FLEET_CLOSE.violation, 'binary frames are not part of the protocol');
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const parsed = parseAgentMessage(raw);
    if (!parsed.ok) return this.violation(parsed.code, closeCodeFor(parsed.code), parsed.error);
    this.lastSeen = Date.now();
    const message = parsed.message;
    switch (message.type) {
      case 'hello':
        return this.onHello(message);
      case 'state': {
        if (!this.hello) return this.violation('hello_expected', FLEET_CLOSE.violation, 'the first message must be hello');
        this.state = mergeNodeState(this.state, message.state);
        this.notifyState('state', Object.keys(message.state) as NodeStateSection[]);
        return;
      }
      case 'heartbeat':
        if (!this.hello) return this.violation('hello_expected', FLEET_CLOSE.violation, 'the first message must be hello');
        return;
    }
  }

  private onHello(hello: HelloMessage): void {
    const { identity } = this;
    const refused = helloViolation(hello, identity, this.hello !== undefined);
    if (refused) return this.violation(refused.reason, FLEET_CLOSE.violation, refused.message);
    this.hello = hello;
    this.state = hello.state;
    this.opts.events.registered(this);
    this.send({ v: FLEET_PROTOCOL_VERSION, type: 'welcome', node: identity.node, heartbeatSeconds: Math.round(this.opts.heartbeatMs / 1000) });
    this.opts.log.info(
      { node: identity.node, config: identity.config, nodeAgentVersion: hello.nodeAgentVersion, agentVersion: hello.agentVersion, nodeBinding: identity.nodeBinding, remote: this.remote },
      'node agent connected',
    );
    this.notifyState('hello', Object.keys(hello.state) as NodeStateSection[]);
  }

  private notifyState(kind: StateUpdate['kind'], sections: NodeStateSection[]): void {
    if (!this.hello) return;
    this.opts.events.state(this, this.state, {
      kind,
      sections,
      config: this.identity.config,
      nodeAgentVersion: this.hello.nodeAgentVersion,
      agentVersion: this.hello.agentVersion ?? this.state.observation?.version,
    });
  }

  /** A protocol violation: say why (when the socket still takes it), count it, close this connection only. */
  private violation(reason: string, code: CloseCode, message: string): void {
    this.opts.log.warn({ node: this.identity.node, remote: this.remote, reason }, `fleet protocol violation: ${message}`);
    this.send({ v: FLEET_PROTOCOL_VERSION, type: 'error', code: reason, message: message.slice(0, 1000) });
    this.close(code, reason, message);
  }
}
