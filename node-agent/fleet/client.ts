// The node agent's end of the fleet channel: one TLS WebSocket to the operator (operator/fleet/protocol.ts).
//
// On every (re)connect it reads the projected token again (the kubelet rotates it) and the operator's CA (the
// ConfigMap may have been renewed), sends `hello` with the full state, then `state` with the sections that change
// and a heartbeat every heartbeatSeconds. When the connection drops or is refused it reconnects after a jittered,
// exponentially growing, bounded delay; the operator gets the full state again with the next hello, so nothing is
// lost when it restarts.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import { FLEET_TOKEN_DIR } from '../../operator/api/node-agent-config.ts';
import {
  changedSections,
  clip,
  encodeMessage,
  FLEET_DEFAULT_HEARTBEAT_SECONDS,
  FLEET_MAX_MESSAGE_BYTES,
  FLEET_NODE_HEADER,
  FLEET_PATH,
  FLEET_PROTOCOL_VERSION,
  MAX_PROBES,
  MAX_STEPS,
  mergeNodeState,
  parseOperatorMessage,
  type AgentMessage,
  type NodeState,
  type OperatorMessage,
} from '../../operator/fleet/protocol.ts';
import { backoffDelay } from '../../operator/runtime/backoff.ts';
import { sleep } from '../../operator/runtime/sleep.ts';
import type { PassReport } from '../agent/pass.ts';
import type { ProbeResult } from '../probes/types.ts';
import { FLEET_CA_DIR } from '../../operator/api/node-agent-config.ts';

// ---- reconnect backoff ------------------------------------------------------------------------------------------

export interface BackoffOptions {
  /** First delay (before jitter). Default 1 s. */
  initialMs?: number;
  /** Bound of the delay (before jitter). Default 60 s. */
  maxMs?: number;
}

/**
 * Delays between connection attempts: doubling from initialMs up to maxMs, each drawn from [d/2, d] so that a
 * thousand agents cut off by an operator restart do not come back in step. reset() after a good connection.
 */
export class ReconnectBackoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private failuresSoFar = 0;

  constructor(opts: BackoffOptions = {}, random: () => number = Math.random) {
    this.initialMs = Math.max(1, opts.initialMs ?? 1_000);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? 60_000);
    this.random = random;
  }

  get failures(): number {
    return this.failuresSoFar;
  }

  next(): number {
    this.failuresSoFar++;
    return backoffDelay(this.failuresSoFar, this.initialMs, this.maxMs, this.random);
  }

  reset(): void {
    this.failuresSoFar = 0;
  }
}

// ---- state from the node agent's own reports --------------------------------------------------------------------

const TOKEN_CHARS = /[^A-Za-z0-9_.-]/g;
const asToken = (s: string) => s.replace(TOKEN_CHARS, '_').slice(0, 64) || '_';
const short = (s: string | undefined) => (s === undefined ? undefined : s.slice(0, 256));

/** The sections a host pass reports: facts, step outcomes, observation, and its timestamp. */
export function stateFromPass(report: PassReport, revision?: string): NodeState {
  const f = report.facts;
  const instance = report.observation?.registration ?? f.registration ?? f.ec2;
  return {
    facts: {
      ...(f.os ? { os: { id: short(f.os.id) ?? '', versionId: short(f.os.versionId) ?? '', prettyName: short(f.os.prettyName) ?? '' } } : {}),
      ...(f.arch ? { arch: f.arch } : {}),
      ...(f.packageManager ? { packageManager: f.packageManager } : {}),
      ...(f.snapAgent !== undefined ? { snapAgent: f.snapAgent } : {}),
      ...(f.unsupported ? { unsupported: { reason: short(f.unsupported.reason) ?? '', message: clip(f.unsupported.message) ?? '' } } : {}),
      ec2: f.ec2 !== undefined,
      ...(f.installedVersion ? { installedVersion: short(f.installedVersion) } : {}),
      ...(f.desiredVersion ? { desiredVersion: short(f.desiredVersion) } : {}),
      ...(revision ? { revision } : {}),
      ...(f.externallyManaged ? { externallyManaged: f.externallyManaged } : {}),
    },
    steps: report.outcomes.slice(0, MAX_STEPS).map((o) => ({
      step: asToken(o.step),
      status: o.status,
      ...(o.reason ? { reason: asToken(o.reason) } : {}),
      ...(o.message ? { message: clip(o.message) } : {}),
    })),
    ...(report.observation
      ? {
          observation: {
            serviceActive: report.observation.serviceActive,
            ...(report.observation.version ? { version: short(report.observation.version) } : {}),
            ...(instance ? { instanceId: short(instance.instanceId), region: short(instance.region) } : {}),
          },
        }
      : {}),
    timestamps: { pass: report.at.toISOString() },
  };
}

/** The probes section: per endpoint, reachable or why not, and how (direct or through the proxy). */
export function stateFromProbes(results: readonly ProbeResult[], at: Date = new Date()): NodeState {
  return {
    probes: results.slice(0, MAX_PROBES).map((r) => ({
      endpoint: asToken(r.endpoint),
      host: r.host.slice(0, 256),
      ok: r.ok,
      ...(r.reason ? { reason: r.reason } : {}),
      via: r.via,
    })),
    probeDetails: results.slice(0, MAX_PROBES).map((r) => ({
      endpoint: asToken(r.endpoint),
      phases: Object.fromEntries(Object.entries(r.phases).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)).map(([k, v]) => [k, Math.min(Math.max(v, 0), 3600)])),
      ...(r.message ? { message: clip(r.message) } : {}),
      ...(r.httpStatus !== undefined && r.httpStatus >= 100 && r.httpStatus <= 599 ? { httpStatus: r.httpStatus } : {}),
      ...(r.proxy ? { proxy: r.proxy.slice(0, 256) } : {}),
      ...(r.noProxyMatch ? { noProxyMatch: r.noProxyMatch.slice(0, 256) } : {}),
      ...(r.connectedAddress ? { connectedAddress: r.connectedAddress.slice(0, 256) } : {}),
    })),
    timestamps: { probes: at.toISOString() },
  };
}

/**
 * Encodes a message within the size limit: long step messages are cut further, then dropped, before giving up
 * (the schema's bounds alone allow more than the limit when every text is long and multi-byte).
 */
export function encodeAgentMessage(message: AgentMessage): string {
  const text = JSON.stringify(message);
  if (Buffer.byteLength(text, 'utf8') <= FLEET_MAX_MESSAGE_BYTES || message.type === 'heartbeat') return encodeMessage(message);
  const shrink = (max: number | undefined): AgentMessage => {
    const state = message.state;
    const steps = state.steps?.map((s) => ({ ...s, message: max === undefined ? undefined : clip(s.message, max) }));
    const facts = state.facts?.unsupported && max !== undefined ? { ...state.facts, unsupported: { ...state.facts.unsupported, message: clip(state.facts.unsupported.message, max) ?? '' } } : state.facts;
    return { ...message, state: { ...state, ...(steps ? { steps } : {}), ...(facts ? { facts } : {}) } };
  };
  for (const max of [200, 40, undefined]) {
    const smaller = JSON.stringify(shrink(max));
    if (Buffer.byteLength(smaller, 'utf8') <= FLEET_MAX_MESSAGE_BYTES) return smaller;
  }
  return encodeMessage(message); // throws with the size
}

// ---- settings ---------------------------------------------------------------------------------------------------

/** Where the DaemonSet mounts the operator's CA (ConfigMap FLEET_CA_CONFIGMAP). */
export { FLEET_CA_DIR };

export interface FleetClientSettings {
  /** wss://host:port/fleet/v1 */
  url: string;
  tokenFile: string;
  caFile: string;
  heartbeatSeconds: number;
}

/**
 * The channel's settings from the environment: FLEET_ENDPOINT (`host:port` or `wss://host:port[/path]`),
 * FLEET_TOKEN_FILE, FLEET_CA_FILE, FLEET_HEARTBEAT_SECONDS. `undefined` when FLEET_ENDPOINT is not set (no channel).
 */
export function readFleetClientSettings(env: Record<string, string | undefined>): { ok: true; settings: FleetClientSettings | undefined } | { ok: false; errors: string[] } {
  const endpoint = env.FLEET_ENDPOINT?.trim();
  if (!endpoint) return { ok: true, settings: undefined };
  const errors: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `wss://${endpoint}`);
    if (url.protocol !== 'wss:') errors.push(`FLEET_ENDPOINT=${JSON.stringify(endpoint)} must be wss:// (the channel is always TLS)`);
    if (url.pathname === '/' || url.pathname === '') url.pathname = FLEET_PATH;
  } catch {
    errors.push(`FLEET_ENDPOINT=${JSON.stringify(endpoint)} is not host:port or a wss:// URL`);
  }
  const rawHeartbeat = env.FLEET_HEARTBEAT_SECONDS;
  const heartbeatSeconds = rawHeartbeat ? Number(rawHeartbeat) : FLEET_DEFAULT_HEARTBEAT_SECONDS;
  if (!Number.isInteger(heartbeatSeconds) || heartbeatSeconds < 1 || heartbeatSeconds > 3600) {
    errors.push(`FLEET_HEARTBEAT_SECONDS=${JSON.stringify(rawHeartbeat)} must be a whole number from 1 to 3600`);
  }
  if (errors.length > 0 || !url) return { ok: false, errors };
  return {
    ok: true,
    settings: {
      url: url.toString(),
      tokenFile: env.FLEET_TOKEN_FILE || `${FLEET_TOKEN_DIR}/token`,
      caFile: env.FLEET_CA_FILE || `${FLEET_CA_DIR}/ca.crt`,
      heartbeatSeconds,
    },
  };
}

// ---- the client -------------------------------------------------------------------------------------------------

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

/** The operator closes a connection with this code when a newer one from the same node replaced it. */
const CLOSE_REPLACED = 4000;

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
    this.ws?.close(1000, 'node agent stopping');
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
      if (outcome.welcomed && outcome.code !== CLOSE_REPLACED) this.backoff.reset();
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
          ws.close(parsed.code === 'too_large' ? 1009 : 1008, parsed.code);
          return;
        }
        const message: OperatorMessage = parsed.message;
        if (message.type === 'welcome') {
          if (message.node !== this.opts.nodeName) {
            this.opts.log.warn({ node: message.node }, 'the operator welcomed another node: closing the connection');
            ws.close(1008, 'node mismatch');
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
