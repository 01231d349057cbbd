// The SSM API emulator for tests: see server.ts (startSsmEmulator) and main.ts (standalone).
export { startSsmEmulator, TEST_CREDENTIALS, OPERATIONS, type SsmEmulator, type SsmEmulatorOptions } from './server.ts';
export type { EmulatorState, ActivationRecord, InstanceRecord, CallRecord, PingStatus, InstanceHeartbeat, InstanceSeed } from './state.ts';
export type { EmulatorFaults, FaultScope, Hold, HoldPhase } from './faults.ts';
export type { EmulatorClock } from './clock.ts';
export { CONTROL_PREFIX } from './control.ts';
export type { RoleTokenFault } from './faults.ts';
export { ROLE_TOKEN_LIFETIME_MS, type RoleCredential } from './role-token.ts';
