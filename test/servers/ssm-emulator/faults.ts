// Fault injection, checked after a request is authenticated and before its operation runs: throttling
// (ThrottlingException, HTTP 400, "Rate exceeded", as SSM answers) for the next N calls or above a rate, and
// server errors (InternalServerError, HTTP 500 by default) for the next N calls. Each switch can be limited to
// some operations. Rates run on wall time (the SDK's retries wait in wall time).
// A separate, persistent switch breaks the credentials of registered agents until it is turned off:
//   AccessDenied  RequestManagedInstanceRoleToken answers AccessDeniedException (the role's trust policy, a
//                 missing permission);
//   Expired       role tokens are issued but refused on use as ExpiredTokenException;
//   Throttled     RequestManagedInstanceRoleToken answers ThrottlingException.
import { SsmError, type SsmErrorType } from './wire.ts';

export interface FaultScope {
  /** operation names (e.g. "DescribeInstanceInformation"); every operation when absent */
  operations?: readonly string[];
}

export type RoleTokenFault = 'AccessDenied' | 'Expired' | 'Throttled';

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
  /** every switch off */
  clear(): void;
  /** what is still armed */
  pending(): { throttle: number; fail: number; rate: number | undefined };
  /** for the server: the fault to answer `operation` with, if any (consumes one armed fault) */
  check(operation: string): SsmError | undefined;
  /** for the server, after `operation` ran: the error to answer with instead of its result, if any */
  checkAfter(operation: string): SsmError | undefined;
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
    clear() {
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
