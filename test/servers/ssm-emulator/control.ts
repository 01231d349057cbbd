// The test-control API of a standalone emulator (another process's tests cannot reach the in-process objects).
// Not part of AWS's API; plain JSON under /__emulator/:
//   GET  /__emulator/state                      → {now, activations, instances, calls}
//   POST /__emulator/faults {throttleNext?, failNext?, failStatus?, throttleRate?, operations?, clear?,
//                            roleToken?: "AccessDenied"|"Expired"|"Throttled"|null}
//   POST /__emulator/clock  {advanceMs?, set?: ISO date, reset?: true} → {now}
//   POST /__emulator/ping   {instanceId, agentVersion?, platformName?, …}
//   POST /__emulator/ping-status {instanceId, status: "Online"|"ConnectionLost"|"Inactive"|null}
//   POST /__emulator/reset
import type { EmulatorClock } from './clock.ts';
import type { EmulatorFaults, RoleTokenFault } from './faults.ts';
import type { EmulatorState, InstanceHeartbeat, PingStatus } from './state.ts';
import type { WireResponse } from './wire.ts';

export const CONTROL_PREFIX = '/__emulator/';

interface Env {
  state: EmulatorState;
  faults: EmulatorFaults;
  clock: EmulatorClock;
}

const json = (status: number, body: unknown): WireResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

type Body = Record<string, unknown>;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function operations(b: Body): string[] | undefined {
  return Array.isArray(b.operations) ? b.operations.filter((o): o is string => typeof o === 'string') : undefined;
}

function snapshot(env: Env) {
  const { state, clock } = env;
  return {
    now: clock.now().toISOString(),
    activations: state.activations().map((a) => ({ ...a, expired: state.isExpired(a) })),
    instances: state.instances().map((i) => ({ ...i, pingStatus: state.pingStatus(i) })),
    calls: state.calls(),
  };
}

export function handleControl(method: string, url: string, raw: Buffer, env: Env): WireResponse {
  const path = url.slice(CONTROL_PREFIX.length).split('?')[0] ?? '';
  let b: Body = {};
  if (method === 'POST' && raw.length > 0) {
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) b = parsed as Body;
    } catch {
      return json(400, { error: 'body must be a JSON object' });
    }
  }
  try {
    if (method === 'GET' && path === 'state') return json(200, snapshot(env));
    if (method !== 'POST') return json(404, { error: `no ${method} ${url}` });
    switch (path) {
      case 'faults': {
        if (b.clear === true) env.faults.clear();
        const scope = { operations: operations(b) };
        const throttleNext = num(b.throttleNext);
        if (throttleNext !== undefined) env.faults.throttleNext(throttleNext, scope);
        const failNext = num(b.failNext);
        if (failNext !== undefined) env.faults.failNext(failNext, { ...scope, status: num(b.failStatus) ?? 500 });
        const rate = num(b.throttleRate);
        if (rate !== undefined) env.faults.throttleRate(rate, scope);
        if (b.roleToken === null) env.faults.roleToken(undefined);
        else if (b.roleToken === 'AccessDenied' || b.roleToken === 'Expired' || b.roleToken === 'Throttled') env.faults.roleToken(b.roleToken satisfies RoleTokenFault);
        else if (b.roleToken !== undefined) return json(400, { error: 'roleToken must be AccessDenied, Expired, Throttled or null' });
        return json(200, { ...env.faults.pending(), roleToken: env.faults.roleTokenFault() ?? null });
      }
      case 'clock': {
        if (b.reset === true) env.clock.reset();
        if (typeof b.set === 'string') env.clock.set(new Date(b.set));
        const advance = num(b.advanceMs);
        if (advance !== undefined) env.clock.advance(advance);
        return json(200, { now: env.clock.now().toISOString() });
      }
      case 'ping': {
        const { instanceId, ...details } = b;
        env.state.ping(String(instanceId), details as InstanceHeartbeat);
        return json(200, { ok: true });
      }
      case 'ping-status': {
        const status = b.status === null ? undefined : (String(b.status) as PingStatus);
        env.state.setPingStatus(String(b.instanceId), status);
        return json(200, { ok: true });
      }
      case 'reset':
        env.state.reset();
        env.faults.clear();
        env.clock.reset();
        return json(200, { ok: true });
      default:
        return json(404, { error: `no ${method} ${url}` });
    }
  } catch (err) {
    return json(400, { error: err instanceof Error ? err.message : String(err) });
  }
}
