// Fault injection, checked after a request is authenticated and before its operation runs: throttling
// (ThrottlingException, HTTP 400, "Rate exceeded", as SSM answers) for the next N calls or above a rate, and
// server errors (InternalServerError, HTTP 500 by default) for the next N calls. Each switch can be limited to
// some operations. Rates run on wall time (the SDK's retries wait in wall time).
// A separate, persistent switch breaks the credentials of registered agents until it is turned off:
//   AccessDenied  RequestManagedInstanceRoleToken answers AccessDeniedException (the role's trust policy, a
//                 missing permission);
//   Expired       role tokens are issued but refused on use as ExpiredTokenException;
//   Throttled     RequestManagedInstanceRoleToken answers ThrottlingException.
// Holds pause one call of an operation until the test releases it, so a test can act (SIGKILL a client) at exactly
// that moment: `before` the service acts (a slow front end; a call whose client went away meanwhile is never
// forwarded), or `after` it acted, with the answer held back (the client cannot know the effect happened).
import { SsmError, type SsmErrorType } from './wire.ts';

export interface FaultScope {
  /** operation names (e.g. "DescribeInstanceInformation"); every operation when absent */
  operations?: readonly string[];
}

export type RoleTokenFault = 'AccessDenied' | 'Expired' | 'Throttled';

export type HoldPhase = 'before' | 'after';

export interface Hold {
  /** resolves when a matching call is being held */
  readonly reached: Promise<void>;
  /** lets the held call go on (or, when none arrived yet, disarms the hold); idempotent */
  release(): void;
}

export interface EmulatorFaults {
  /** breaks the agents' role credentials until called again with undefined */
  roleToken(fault: RoleTokenFault | undefined): void;
  /** the role-token switch */
  roleTokenFault(): RoleTokenFault | undefined;
  /** the next `n` matching calls answer ThrottlingException */
  throttleNext(n: number, scope?: FaultScope): void;
  /** matching calls above `perSecond` (token bucket of `burst`, default max(1, perSecond)) answer ThrottlingException */
  throttleRate(perSecond: number, opts?: FaultScope & { burst?: number }): void;
  /** the next `n` matching calls answer a server error: InternalServerError/500 unless told otherwise */
  failNext(n: number, opts?: FaultScope & { status?: number; type?: SsmErrorType; message?: string }): void;
  /** the next `n` matching calls run (their effect stays), then answer a server error instead of their result:
   * a response lost after the service acted, which a client cannot tell from a failure */
  failAfterNext(n: number, opts?: FaultScope & { status?: number; type?: SsmErrorType }): void;
  /** holds the next call of `operation` at `phase` until released (see the file's comment) */
  hold(operation: string, phase: HoldPhase): Hold;
  /** every switch off (held calls are released) */
  clear(): void;
  /** what is still armed */
  pending(): { throttle: number; fail: number; rate: number | undefined };
  /** for the server: the fault to answer `operation` with, if any (consumes one armed fault) */
  check(operation: string): SsmError | undefined;
  /** for the server, after `operation` ran: the error to answer with instead of its result, if any */
  checkAfter(operation: string): SsmError | undefined;
  /** for the server: what to wait for before going on with `operation` at `phase`, if a hold is armed (consumes it) */
  holdPoint(operation: string, phase: HoldPhase): Promise<void> | undefined;
}

interface Counted {
  left: number;
  operations: readonly string[] | undefined;
}

const matches = (ops: readonly string[] | undefined, op: string) => ops === undefined || ops.includes(op);

export function createFaults(wall: () => number = Date.now): EmulatorFaults {
  let throttle: Counted = { left: 0, operations: undefined };
  let fail: Counted & { status: number; type: SsmErrorType; message: string } = {
    left: 0,
    operations: undefined,
    status: 500,
    type: 'InternalServerError',
    message: '',
  };
  let failAfter: Counted & { status: number; type: SsmErrorType } = { left: 0, operations: undefined, status: 500, type: 'InternalServerError' };
  let roleToken: RoleTokenFault | undefined;
  const holds: { operation: string; phase: HoldPhase; arrived: () => void; released: Promise<void>; release: () => void; taken: boolean }[] = [];
  let rate: { perSecond: number; burst: number; tokens: number; at: number; operations: readonly string[] | undefined } | undefined;

  return {
    roleToken(fault) {
      roleToken = fault;
    },
    roleTokenFault: () => roleToken,
    throttleNext(n, scope) {
      throttle = { left: n, operations: scope?.operations };
    },
    throttleRate(perSecond, opts) {
      const burst = opts?.burst ?? Math.max(1, perSecond);
      rate = { perSecond, burst, tokens: burst, at: wall(), operations: opts?.operations };
    },
    failNext(n, opts) {
      fail = {
        left: n,
        operations: opts?.operations,
        status: opts?.status ?? 500,
        type: opts?.type ?? 'InternalServerError',
        message: opts?.message ?? '',
      };
    },
    failAfterNext(n, opts) {
      failAfter = { left: n, operations: opts?.operations, status: opts?.status ?? 500, type: opts?.type ?? 'InternalServerError' };
    },
    hold(operation, phase) {
      let arrived!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((r) => (arrived = r));
      const released = new Promise<void>((r) => (release = r));
      const h = { operation, phase, arrived, released, release, taken: false };
      holds.push(h);
      return {
        reached,
        release() {
          const i = holds.indexOf(h);
          if (i >= 0) holds.splice(i, 1);
          h.release();
        },
      };
    },
    holdPoint(operation, phase) {
      const h = holds.find((x) => !x.taken && x.operation === operation && x.phase === phase);
      if (!h) return undefined;
      h.taken = true;
      h.arrived();
      return h.released;
    },
    clear() {
      for (const h of holds.splice(0)) h.release();
      throttle = { left: 0, operations: undefined };
      fail = { ...fail, left: 0 };
      failAfter = { ...failAfter, left: 0 };
      rate = undefined;
      roleToken = undefined;
    },
    pending: () => ({ throttle: throttle.left, fail: fail.left, rate: rate?.perSecond }),
    check(operation) {
      if (operation === 'RequestManagedInstanceRoleToken' && roleToken === 'AccessDenied') {
        return new SsmError('AccessDeniedException', 'Systems Manager could not assume the IAM role of this instance\'s activation: check the role\'s trust policy (ssm.amazonaws.com) and its AmazonSSMManagedInstanceCore policy.');
      }
      if (operation === 'RequestManagedInstanceRoleToken' && roleToken === 'Throttled') return new SsmError('ThrottlingException', 'Rate exceeded', 400);
      if (throttle.left > 0 && matches(throttle.operations, operation)) {
        throttle.left--;
        return new SsmError('ThrottlingException', 'Rate exceeded', 400);
      }
      if (rate && matches(rate.operations, operation)) {
        const now = wall();
        rate.tokens = Math.min(rate.burst, rate.tokens + ((now - rate.at) / 1000) * rate.perSecond);
        rate.at = now;
        if (rate.tokens < 1) return new SsmError('ThrottlingException', 'Rate exceeded', 400);
        rate.tokens -= 1;
      }
      if (fail.left > 0 && matches(fail.operations, operation)) {
        fail.left--;
        return new SsmError(fail.type, fail.message, fail.status);
      }
      return undefined;
    },
    checkAfter(operation) {
      if (failAfter.left > 0 && matches(failAfter.operations, operation)) {
        failAfter.left--;
        return new SsmError(failAfter.type, '', failAfter.status);
      }
      return undefined;
    },
  };
}
