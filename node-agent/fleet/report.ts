// What the node agent tells the operator: the NodeState sections built from its own pass and probe reports, and a
// message encoder that keeps within the frame limit.
import { clip, encodeMessage, FLEET_MAX_MESSAGE_BYTES, MAX_PROBES, MAX_STEPS, type AgentMessage, type NodeState } from '../../operator/api/fleet-protocol.ts';
import type { PassReport } from '../agent/pass.ts';
import type { ProbeResult } from '../probes/types.ts';

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
