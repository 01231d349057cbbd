// The fleet channel's wire protocol (DESIGN.md "Node agent ↔ operator channel"), shared by the operator and the
// node agent. The TypeBox schemas below are the single source of both the static types and runtime validation.
//
// Transport: one TLS WebSocket per node agent, JSON text frames, each at most FLEET_MAX_MESSAGE_BYTES. The agent
// authenticates on the upgrade request (`Authorization: Bearer <projected token>`, and FLEET_NODE_HEADER naming
// the node it reports for); its first message is `hello` with its full state, then `state` with the sections that
// changed, and a `heartbeat` every heartbeatSeconds. The operator answers `hello` with `welcome`, can send
// `probe-now`, and says `error` before it closes a connection for a protocol violation.
//
// Versioning: every message carries `v`. Unknown fields are tolerated (and dropped) so a newer agent can add an
// optional field within v1; anything incompatible bumps `v`, and a side that does not speak it closes with a clear
// `unsupported protocol version` error.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export const FLEET_PROTOCOL_VERSION = 1;
/** Upper bound of one message, both directions (the server closes with 1009 above it). */
/**
 * A node agent whose connection was lost draws its first retry from [0, this) (full jitter), so that thousands of
 * agents returning to a new leader do not arrive at once. The new leader knows the fleet's report is incomplete
 * until this has passed.
 */
export const FLEET_RECONNECT_WINDOW_MS = 20_000;
export const FLEET_MAX_MESSAGE_BYTES = 64 * 1024;
/** The WebSocket path of the channel (versioned with the protocol). */
export const FLEET_PATH = '/fleet/v1';
/** Upgrade-request header naming the node the agent reports for; checked against its token's bound node. */
export const FLEET_NODE_HEADER = 'x-ssmagent-node';
export const FLEET_DEFAULT_HEARTBEAT_SECONDS = 60;
/** The channel's WebSocket close codes (RFC 6455 section 7.4; 4000-4999 are this protocol's own). */
export const FLEET_CLOSE = {
  /** The node agent stops. */
  normal: 1000,
  /** The operator shuts down. */
  goingAway: 1001,
  /** A protocol violation; an `error` message before it says which. */
  violation: 1008,
  /** A message larger than FLEET_MAX_MESSAGE_BYTES. */
  tooLarge: 1009,
  /** A newer connection from the same node replaced this one. */
  replaced: 4000,
  /** No message for more than 3 heartbeat periods. */
  heartbeatTimeout: 4001,
} as const;

// ---- bounded building blocks ------------------------------------------------------------------------------------

/** A Kubernetes object name (DNS subdomain). */
const ObjectName = Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' });
const Short = Type.String({ maxLength: 256 });
/** Free text (step and probe messages): clipped by the sender, see clip(). */
export const MAX_TEXT = 1024;
const Text = Type.String({ maxLength: MAX_TEXT });
/** RFC 3339 UTC, as Date.toISOString() writes it. */
const Timestamp = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$' });
const Token = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });

// ---- the node state ---------------------------------------------------------------------------------------------

export const HostFactsSummary = Type.Object({
  os: Type.Optional(Type.Object({ id: Short, versionId: Short, prettyName: Short })),
  arch: Type.Optional(Short),
  packageManager: Type.Optional(Short),
  snapAgent: Type.Optional(Type.Boolean()),
  /** An immutable OS (Bottlerocket, Talos, Flatcar): why, and what to use instead. */
  unsupported: Type.Optional(Type.Object({ reason: Short, message: Text })),
  /** Running on EC2 (IMDS answered). */
  ec2: Type.Optional(Type.Boolean()),
  installedVersion: Type.Optional(Short),
  desiredVersion: Type.Optional(Short),
  /** The revision of the node agent's configuration (its pod's ssmagent.io/revision): reports about an older
   * revision do not count against a new one. */
  revision: Type.Optional(Type.String({ maxLength: 64, pattern: '^[0-9a-f]*$' })),
  /** The agent and its registration belong to something else (nodeadm on EKS Hybrid Nodes): reported, never changed. */
  externallyManaged: Type.Optional(Type.Literal('nodeadm')),
});
export type HostFactsSummary = Static<typeof HostFactsSummary>;

export const STEP_STATUSES = ['ok', 'changed', 'skipped', 'failed', 'unsupported'] as const;
export const StepOutcomeSummary = Type.Object({
  step: Token,
  status: Type.Union(STEP_STATUSES.map((s) => Type.Literal(s))),
  reason: Type.Optional(Token),
  message: Type.Optional(Text),
});
export type StepOutcomeSummary = Static<typeof StepOutcomeSummary>;

export const ObservationSummary = Type.Object({
  serviceActive: Type.Boolean(),
  version: Type.Optional(Short),
  /** The managed instance (mi-…) or EC2 instance id the agent is registered as. */
  instanceId: Type.Optional(Short),
  region: Type.Optional(Short),
});
export type ObservationSummary = Static<typeof ObservationSummary>;

export const ProbeSummary = Type.Object({
  endpoint: Token,
  host: Short,
  ok: Type.Boolean(),
  /** dns, tcp_timeout, tcp_refused, proxy, tls_handshake, tls_untrusted, http (node-agent/probes/types.ts). */
  reason: Type.Optional(Token),
  via: Type.Union([Type.Literal('direct'), Type.Literal('proxy')]),
});
export type ProbeSummary = Static<typeof ProbeSummary>;

/**
 * A probe's detail, for a diagnosis (`ssm-agent-operator diagnose`): how long each phase took and what the failure
 * said. Its own section, outside CHANGE_SECTIONS: durations differ on every round, and must not turn every probe
 * round into a message. It rides along when the operator asked for the probe (probe-now).
 */
const Seconds = Type.Number({ minimum: 0, maximum: 3600 });
export const ProbeDetail = Type.Object({
  endpoint: Token,
  /** Seconds per phase that completed (dns, tcp, tls, http); via a proxy, dns is the proxy's host and tcp includes CONNECT. */
  phases: Type.Object({ dns: Type.Optional(Seconds), tcp: Type.Optional(Seconds), tls: Type.Optional(Seconds), http: Type.Optional(Seconds) }),
  message: Type.Optional(Text),
  httpStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
  /** The proxy URL, without credentials, when the probe went through it. */
  proxy: Type.Optional(Short),
  /** The no_proxy entry that sent this endpoint direct although a proxy is configured. */
  noProxyMatch: Type.Optional(Short),
  /** The address the TCP connection reached (the proxy's when via a proxy). */
  connectedAddress: Type.Optional(Short),
});
export type ProbeDetail = Static<typeof ProbeDetail>;

export const MAX_STEPS = 32;
export const MAX_PROBES = 16;

/**
 * What a node agent knows about its host. Every section is optional: `hello` carries every section the agent has,
 * `state` only those that changed (each one whole). The receiver replaces the sections it gets (mergeNodeState).
 */
export const NodeState = Type.Object({
  facts: Type.Optional(HostFactsSummary),
  steps: Type.Optional(Type.Array(StepOutcomeSummary, { maxItems: MAX_STEPS })),
  observation: Type.Optional(ObservationSummary),
  probes: Type.Optional(Type.Array(ProbeSummary, { maxItems: MAX_PROBES })),
  probeDetails: Type.Optional(Type.Array(ProbeDetail, { maxItems: MAX_PROBES })),
  /** When the last host pass and probe round ended. They ride along with every hello and state message but do
   * not make a change by themselves: liveness is what heartbeats are for. */
  timestamps: Type.Optional(Type.Object({ pass: Type.Optional(Timestamp), probes: Type.Optional(Timestamp) })),
});
export type NodeState = Static<typeof NodeState>;
export type NodeStateSection = keyof NodeState;
/** The sections whose change is worth a message (timestamps are not). */
export const CHANGE_SECTIONS = ['facts', 'steps', 'observation', 'probes'] as const satisfies readonly NodeStateSection[];

// ---- messages ---------------------------------------------------------------------------------------------------

const V = Type.Literal(FLEET_PROTOCOL_VERSION);
const HeartbeatSeconds = Type.Integer({ minimum: 1, maximum: 3600 });

export const HelloMessage = Type.Object({
  v: V,
  type: Type.Literal('hello'),
  /** Must be the node the token is bound to. */
  node: ObjectName,
  /** The SsmAgentConfig the agent runs for; must match its ServiceAccount (ssm-node-agent-<config>). */
  config: ObjectName,
  /** Version of the node-agent process. */
  nodeAgentVersion: Short,
  /** Version of amazon-ssm-agent on the host, when known. */
  agentVersion: Type.Optional(Short),
  /** The heartbeat period the agent intends to keep. */
  heartbeatSeconds: HeartbeatSeconds,
  state: NodeState,
});
export const StateMessage = Type.Object({ v: V, type: Type.Literal('state'), state: NodeState });
export const HeartbeatMessage = Type.Object({ v: V, type: Type.Literal('heartbeat') });

export const WelcomeMessage = Type.Object({
  v: V,
  type: Type.Literal('welcome'),
  node: ObjectName,
  /** The heartbeat period the operator expects: it closes connections silent for more than 3 of them. */
  heartbeatSeconds: HeartbeatSeconds,
});
export const ProbeNowMessage = Type.Object({ v: V, type: Type.Literal('probe-now') });
export const ErrorMessage = Type.Object({ v: V, type: Type.Literal('error'), code: Token, message: Text });

export const AgentMessage = Type.Union([HelloMessage, StateMessage, HeartbeatMessage]);
export const OperatorMessage = Type.Union([WelcomeMessage, ProbeNowMessage, ErrorMessage]);
export type HelloMessage = Static<typeof HelloMessage>;
export type StateMessage = Static<typeof StateMessage>;
export type HeartbeatMessage = Static<typeof HeartbeatMessage>;
export type WelcomeMessage = Static<typeof WelcomeMessage>;
export type ProbeNowMessage = Static<typeof ProbeNowMessage>;
export type ErrorMessage = Static<typeof ErrorMessage>;
export type AgentMessage = Static<typeof AgentMessage>;
export type OperatorMessage = Static<typeof OperatorMessage>;

const AGENT_SCHEMAS: Record<string, TSchema> = { hello: HelloMessage, state: StateMessage, heartbeat: HeartbeatMessage };
const OPERATOR_SCHEMAS: Record<string, TSchema> = { welcome: WelcomeMessage, 'probe-now': ProbeNowMessage, error: ErrorMessage };

// ---- validation -------------------------------------------------------------------------------------------------

/** Why a message was refused: the close code follows (too_large → 1009, the others → 1008). */
export type ParseErrorCode = 'too_large' | 'not_json' | 'unsupported_version' | 'unknown_type' | 'invalid';
export type ParseResult<T> = { ok: true; message: T } | { ok: false; code: ParseErrorCode; error: string };

/** The close code for a refused message. */
export function closeCodeFor(code: ParseErrorCode): typeof FLEET_CLOSE.violation | typeof FLEET_CLOSE.tooLarge {
  return code === 'too_large' ? FLEET_CLOSE.tooLarge : FLEET_CLOSE.violation;
}

function byteLength(data: string | Buffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}

function parse<T>(data: string | Buffer, schemas: Record<string, TSchema>, from: string): ParseResult<T> {
  const size = byteLength(data);
  if (size > FLEET_MAX_MESSAGE_BYTES) {
    return { ok: false, code: 'too_large', error: `message of ${size} bytes is larger than the limit of ${FLEET_MAX_MESSAGE_BYTES}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    return { ok: false, code: 'not_json', error: `not JSON: ${(err as Error).message}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, code: 'invalid', error: 'a message must be a JSON object' };
  const { v, type } = raw as { v?: unknown; type?: unknown };
  if (v !== FLEET_PROTOCOL_VERSION) {
    return { ok: false, code: 'unsupported_version', error: `unsupported protocol version ${JSON.stringify(v)} (this side speaks ${FLEET_PROTOCOL_VERSION})` };
  }
  const schema = typeof type === 'string' && Object.hasOwn(schemas, type) ? schemas[type] : undefined;
  if (!schema) {
    return { ok: false, code: 'unknown_type', error: `unknown message type ${JSON.stringify(type)} from ${from} (expected ${Object.keys(schemas).join(', ')})` };
  }
  if (!Value.Check(schema, raw)) {
    const errors = [...Value.Errors(schema, raw)].slice(0, 3).map((e) => `${e.path || '/'}: ${e.message}`);
    return { ok: false, code: 'invalid', error: `invalid ${type} message: ${errors.join('; ')}` };
  }
  // Drop fields this version does not know, so nothing unvalidated is kept.
  return { ok: true, message: Value.Clean(schema, raw) as T };
}

/** Validates a frame the operator received from a node agent. */
export function parseAgentMessage(data: string | Buffer): ParseResult<AgentMessage> {
  return parse<AgentMessage>(data, AGENT_SCHEMAS, 'a node agent');
}

/** Validates a frame a node agent received from the operator. */
export function parseOperatorMessage(data: string | Buffer): ParseResult<OperatorMessage> {
  return parse<OperatorMessage>(data, OPERATOR_SCHEMAS, 'the operator');
}

/** Serializes a message; throws when it would break the size limit (the sender's bug, never the peer's). */
export function encodeMessage(message: AgentMessage | OperatorMessage): string {
  const text = JSON.stringify(message);
  const size = Buffer.byteLength(text, 'utf8');
  if (size > FLEET_MAX_MESSAGE_BYTES) throw new Error(`${message.type} message of ${size} bytes is larger than the limit of ${FLEET_MAX_MESSAGE_BYTES}`);
  return text;
}

// ---- state helpers ----------------------------------------------------------------------------------------------

/** Replaces the sections `delta` carries; keeps the others. */
export function mergeNodeState(current: NodeState, delta: NodeState): NodeState {
  const merged: NodeState = { ...current };
  for (const key of Object.keys(delta) as NodeStateSection[]) {
    if (delta[key] !== undefined) Object.assign(merged, { [key]: delta[key] });
  }
  if (delta.timestamps) merged.timestamps = { ...current.timestamps, ...delta.timestamps };
  return merged;
}

/** The change sections of `next` that differ from `previous` (deep, by value). */
export function changedSections(previous: NodeState | undefined, next: NodeState): (typeof CHANGE_SECTIONS)[number][] {
  return CHANGE_SECTIONS.filter((key) => next[key] !== undefined && JSON.stringify(next[key]) !== JSON.stringify(previous?.[key]));
}

/** Clips text to the protocol's bound, marking the cut. */
export function clip(text: string | undefined, max = MAX_TEXT): string | undefined {
  if (text === undefined || text.length <= max) return text;
  return `${text.slice(0, max - 1)}…`;
}
