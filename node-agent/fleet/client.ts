// The node agent's end of the fleet channel: one TLS WebSocket to the operator (operator/api/fleet-protocol.ts).
//
// On every (re)connect it reads the projected token again (the kubelet rotates it) and the operator's CA (the
// ConfigMap may have been renewed), sends `hello` with the full state, then `state` with the sections that change
// and a heartbeat every heartbeatSeconds. When the connection drops or is refused it reconnects after a jittered,
// exponentially growing, bounded delay, the first one after a lost connection spread over a reconnect window
// (./backoff.ts); the operator gets the full state again with the next hello, so nothing is lost when it restarts.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import {
  changedSections,
  closeCodeFor,
  FLEET_CLOSE,
  FLEET_DEFAULT_HEARTBEAT_SECONDS,
  FLEET_MAX_MESSAGE_BYTES,
  FLEET_NODE_HEADER,
  FLEET_PROTOCOL_VERSION,
  mergeNodeState,
  parseOperatorMessage,
  type AgentMessage,
  type NodeState,
  type OperatorMessage,
} from '../../operator/api/fleet-protocol.ts';
import { sleep } from '../../operator/lib/sleep.ts';
import { ReconnectBackoff, type BackoffOptions } from './backoff.ts';
import { encodeAgentMessage } from './report.ts';

export type FleetClientEvent =
  | { type: 'connected'; heartbeatSeconds: number }
  | { type: 'rejected'; status: number; message: string }
  | { type: 'disconnected'; reason: string; retryInMs: number };

export interface FleetClientOptions {
  /** wss://host:port/fleet/v1 (see readFleetClientSettings). */
  url: string;
  /** The projected ServiceAccount token; read again on every connection attempt. */
  tokenFile: string;
  /** PEM of the CA that signs the operator's serving certificate; read again on every connection attempt. */
  caFile: string;
  nodeName: string;
  configName: string;
  nodeAgentVersion: string;
  log: Logger;
  /** Default 60; the operator's welcome may ask for a shorter one. */
  heartbeatSeconds?: number;
  backoff?: BackoffOptions;
  /** Bound of the TLS + upgrade handshake. Default 10 s. */
  connectTimeoutMs?: number;
  /** The state known before the first pass (usually none). */
  initialState?: NodeState;
  /** The operator asked for a probe round now. */
  onProbeNow?(): void;
  /** Connection lifecycle, for logs and metrics. */
  onEvent?(event: FleetClientEvent): void;
}

interface AttemptOutcome {
  welcomed: boolean;
  reason: string;
  /** The WebSocket close code, when there was a connection. */
  code?: number;
}

export class FleetClient {
  private readonly opts: FleetClientOptions;
  private readonly backoff: ReconnectBackoff;
  private readonly abort = new AbortController();
  private state: NodeState;
  /** What the operator has from this connection (set by hello, advanced by every state message). */
  private sent?: NodeState;
  private ws?: WebSocket;
  private welcomed = false;
  private loop?: Promise<void>;
  private attemptsSoFar = 0;

  constructor(opts: FleetClientOptions) {
    this.opts = opts;
    this.backoff = new ReconnectBackoff(opts.backoff);
    this.state = opts.initialState ?? {};
  }

  /** Connection attempts so far (the first one included). */
  get attempts(): number {
    return this.attemptsSoFar;
  }

  /** Connected and welcomed by the operator. */
  get connected(): boolean {
    return this.welcomed && this.ws?.readyState === WebSocket.OPEN;
  }

  /** The full state, as the next hello would carry it. */
  currentState(): NodeState {
    return this.state;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.ws?.close(FLEET_CLOSE.normal, 'node agent stopping');
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) setTimeout(() => ws.terminate(), 2_000).unref();
    await this.loop;
  }

  /** Replaces the sections given; the operator gets those that changed now (or the whole state at the next hello). */
  update(sections: NodeState, opts: { force?: boolean } = {}): void {
    this.state = mergeNodeState(this.state, sections);
    // force: the operator asked for this (probe-now) and waits for the answer even when nothing changed.
    this.flush(opts.force ? (Object.keys(sections) as (keyof NodeState)[]).filter((k) => k !== 'timestamps') : []);
  }

  private flush(forced: readonly (keyof NodeState)[] = []): void {
    if (!this.connected || !this.ws) return;
    const changed: (keyof NodeState)[] = [...new Set([...changedSections(this.sent, this.state), ...forced])];
    if (changed.length === 0) return;
    // The detail belongs to the probes it came with: never leave the operator with one round's phases on another's.
    if (changed.includes('probes') && !changed.includes('probeDetails') && this.state.probeDetails) changed.push('probeDetails');
    const delta: NodeState = {};
    for (const key of changed) Object.assign(delta, { [key]: this.state[key] });
    if (this.state.timestamps) delta.timestamps = this.state.timestamps;
    this.send({ v: FLEET_PROTOCOL_VERSION, type: 'state', state: delta });
    this.sent = mergeNodeState(this.sent ?? {}, delta);
  }

  private send(message: AgentMessage): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    let text: string;
    try {
      text = encodeAgentMessage(message);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'fleet message too large to send; dropped');
      return;
    }
    ws.send(text);
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const outcome = await this.attempt();
      if (this.abort.signal.aborted) break;
      // A connection replaced by another from this node (a second agent for the same node) does not earn a fast
      // retry: two of them would otherwise take turns replacing each other.
      // A connection that was up and is lost is most often an operator restart that every agent sees at once: the
      // first retry is spread over the reconnect window (see ReconnectBackoff.lost).
      if (outcome.welcomed && outcome.code !== FLEET_CLOSE.replaced) this.backoff.lost();
      const retryInMs = this.backoff.next();
      this.opts.log.warn({ reason: outcome.reason, retryInMs }, outcome.welcomed ? 'fleet connection lost; reconnecting' : 'fleet connection failed; retrying');
      this.emit({ type: 'disconnected', reason: outcome.reason, retryInMs });
      await sleep(retryInMs, this.abort.signal);
    }
  }

  private emit(event: FleetClientEvent): void {
    try {
      this.opts.onEvent?.(event);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'fleet onEvent handler failed');
    }
  }

  /** One connection, from dial to close. Never throws. */
  private async attempt(): Promise<AttemptOutcome> {
    this.attemptsSoFar++;
    let token: string;
    let ca: string;
    try {
      token = (await readFile(this.opts.tokenFile, 'utf8')).trim();
      if (!token) return { welcomed: false, reason: `the token file ${this.opts.tokenFile} is empty` };
    } catch (err) {
      return { welcomed: false, reason: `cannot read the token file: ${(err as Error).message}` };
    }
    try {
      ca = await readFile(this.opts.caFile, 'utf8');
    } catch (err) {
      return { welcomed: false, reason: `cannot read the operator's CA: ${(err as Error).message}` };
    }
    if (this.abort.signal.aborted) return { welcomed: false, reason: 'stopping' };
    return new Promise<AttemptOutcome>((resolve) => {
      const ws = new WebSocket(this.opts.url, {
        ca,
        headers: { Authorization: `Bearer ${token}`, [FLEET_NODE_HEADER]: this.opts.nodeName },
        maxPayload: FLEET_MAX_MESSAGE_BYTES,
        perMessageDeflate: false,
        handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000,
      });
      this.ws = ws;
      this.welcomed = false;
      let reason = '';
      let welcomedOnce = false;
      let heartbeat: NodeJS.Timeout | undefined;
      let awaitingPong = false;

      ws.on('unexpected-response', (req, res) => {
        // Refused before the upgrade (401/403/503): read the operator's one-line reason, then give up this attempt.
        const status = res.statusCode ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 1024) body += chunk;
        });
        const finish = () => {
          reason = `refused with HTTP ${status}: ${body.trim().slice(0, 1024)}`;
          this.emit({ type: 'rejected', status, message: body.trim().slice(0, 1024) });
          if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
          req.destroy();
        };
        res.on('end', finish);
        res.on('error', finish);
        setTimeout(() => ws.readyState === WebSocket.CONNECTING && finish(), 2_000).unref();
      });
      ws.on('open', () => {
        // An operator that accepts the upgrade but never welcomes is as good as none.
        const welcomeTimeout = setTimeout(() => {
          if (!welcomedOnce) {
            reason = 'the operator did not answer hello';
            ws.terminate();
          }
        }, this.opts.connectTimeoutMs ?? 10_000);
        ws.once('close', () => clearTimeout(welcomeTimeout));
        this.sent = structuredClone(this.state);
        this.send({
          v: FLEET_PROTOCOL_VERSION,
          type: 'hello',
          node: this.opts.nodeName,
          config: this.opts.configName,
          nodeAgentVersion: this.opts.nodeAgentVersion,
          ...((this.state.observation?.version ?? this.state.facts?.installedVersion) ? { agentVersion: this.state.observation?.version ?? this.state.facts?.installedVersion } : {}),
          heartbeatSeconds: this.opts.heartbeatSeconds ?? FLEET_DEFAULT_HEARTBEAT_SECONDS,
          state: this.sent,
        });
      });
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (isBinary) return;
        const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        const parsed = parseOperatorMessage(raw);
        if (!parsed.ok) {
          this.opts.log.warn({ err: parsed.error }, 'invalid message from the operator: closing the connection');
          ws.close(closeCodeFor(parsed.code), parsed.code);
          return;
        }
        const message: OperatorMessage = parsed.message;
        if (message.type === 'welcome') {
          if (message.node !== this.opts.nodeName) {
            this.opts.log.warn({ node: message.node }, 'the operator welcomed another node: closing the connection');
            ws.close(FLEET_CLOSE.violation, 'node mismatch');
            return;
          }
          const seconds = Math.min(this.opts.heartbeatSeconds ?? FLEET_DEFAULT_HEARTBEAT_SECONDS, message.heartbeatSeconds);
          this.welcomed = true;
          welcomedOnce = true;
          clearInterval(heartbeat);
          heartbeat = setInterval(() => {
            // A ping the operator never answered: the path is dead even if TCP does not know it yet.
            if (awaitingPong) {
              reason = 'the operator did not answer a ping within a heartbeat period';
              ws.terminate();
              return;
            }
            awaitingPong = true;
            ws.ping();
            this.send({ v: FLEET_PROTOCOL_VERSION, type: 'heartbeat' });
          }, seconds * 1000);
          this.opts.log.info({ url: this.opts.url, heartbeatSeconds: seconds }, 'connected to the operator');
          this.emit({ type: 'connected', heartbeatSeconds: seconds });
          this.flush(); // what changed between hello and welcome
        } else if (message.type === 'probe-now') {
          try {
            this.opts.onProbeNow?.();
          } catch (err) {
            this.opts.log.error({ err: (err as Error).message }, 'fleet onProbeNow handler failed');
          }
        } else {
          this.opts.log.warn({ code: message.code }, `the operator reports: ${message.message}`);
        }
      });
      ws.on('pong', () => {
        awaitingPong = false;
      });
      ws.on('error', (err: Error) => {
        reason ||= err.message;
      });
      ws.on('close', (code: number, why: Buffer) => {
        clearInterval(heartbeat);
        if (this.ws === ws) this.ws = undefined;
        this.welcomed = false;
        const text = why.toString('utf8');
        resolve({ welcomed: welcomedOnce, code, reason: reason || `closed with ${code}${text ? ` (${text})` : ''}` });
      });
    });
  }
}
