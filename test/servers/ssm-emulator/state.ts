// The emulator's data (activations, managed instances, their tags) and the calls it answered, with the inspection
// methods tests use. Records handed out are copies: a test reads state through these methods and changes it only
// through the API or the explicit test hooks (ping, setPingStatus, addInstance).
import { randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorClock } from './clock.ts';
import type { JsonObject, Tag } from './input.ts';
import type { RoleCredential } from './role-token.ts';

export type PingStatus = 'Online' | 'ConnectionLost' | 'Inactive';
export type PlatformType = 'Linux' | 'Windows' | 'MacOS';

export interface ActivationRecord {
  activationId: string;
  activationCode: string;
  description?: string;
  defaultInstanceName?: string;
  iamRole: string;
  registrationLimit: number;
  registrationsCount: number;
  expirationDate: Date;
  createdDate: Date;
  tags: Tag[];
}

export interface InstanceRecord {
  instanceId: string;
  resourceType: 'ManagedInstance' | 'EC2Instance';
  activationId?: string;
  iamRole?: string;
  name?: string;
  registrationDate: Date;
  lastPingDateTime?: Date;
  /** a test's override of the computed ping status */
  pingStatusOverride?: PingStatus;
  agentVersion?: string;
  platformType: PlatformType;
  platformName?: string;
  platformVersion?: string;
  ipAddress?: string;
  computerName?: string;
  fingerprint?: string;
  publicKey?: string;
  publicKeyType?: string;
  tags: Tag[];
}

export interface CallRecord {
  at: Date;
  operation: string;
  status: number;
  /** "OK" or the error type (`__type` without namespace) */
  code: string;
  /** no Authorization header (RegisterManagedInstance, as the agent sends it) */
  anonymous: boolean;
  accessKeyId?: string;
  userAgent?: string;
  /** the parsed input, ActivationCode redacted */
  input: JsonObject;
}

export type InstanceHeartbeat = Partial<
  Pick<InstanceRecord, 'agentVersion' | 'platformType' | 'platformName' | 'platformVersion' | 'ipAddress' | 'computerName'>
>;

export type InstanceSeed = Partial<Omit<InstanceRecord, 'instanceId' | 'registrationDate'>> & {
  instanceId?: string;
  registrationDate?: Date;
};

const copyTags = (tags: readonly Tag[]) => tags.map((t) => ({ ...t }));

export function newInstanceId(prefix: 'mi' | 'i' = 'mi'): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** 20 characters, like AWS's activation codes ("Zqr175DJ+sPQRHsmbzzf"). */
export function newActivationCode(): string {
  return randomBytes(15).toString('base64');
}

export class EmulatorState {
  readonly clock: EmulatorClock;
  /** how long after its last ping an instance still shows Online (then ConnectionLost) */
  pingTimeoutMs: number;
  /** activations by id (deleted ones are gone) */
  readonly activationMap = new Map<string, ActivationRecord>();
  /** instances by id, in registration order */
  readonly instanceMap = new Map<string, InstanceRecord>();
  /** temporary credentials handed out by RequestManagedInstanceRoleToken, by access key id */
  readonly roleCredentialMap = new Map<string, RoleCredential>();
  private readonly callLog: CallRecord[] = [];

  constructor(clock: EmulatorClock, pingTimeoutMs = 10 * 60 * 1000) {
    this.clock = clock;
    this.pingTimeoutMs = pingTimeoutMs;
  }

  // ---- inspection -------------------------------------------------------------------------------------------

  activations(): ActivationRecord[] {
    return [...this.activationMap.values()].map((a) => this.copyActivation(a));
  }

  activation(id: string): ActivationRecord | undefined {
    const a = this.activationMap.get(id);
    return a && this.copyActivation(a);
  }

  /** whether the activation has expired by the emulator's clock */
  isExpired(a: Pick<ActivationRecord, 'expirationDate'>): boolean {
    return this.clock.now().getTime() >= a.expirationDate.getTime();
  }

  instances(): InstanceRecord[] {
    return [...this.instanceMap.values()].map((i) => this.copyInstance(i));
  }

  instance(id: string): InstanceRecord | undefined {
    const i = this.instanceMap.get(id);
    return i && this.copyInstance(i);
  }

  /** a managed instance's tags as a map, or an activation's (which are fixed at creation) */
  tags(resourceType: 'ManagedInstance' | 'Activation', id: string): Record<string, string> | undefined {
    const list = resourceType === 'Activation' ? this.activationMap.get(id)?.tags : this.instanceMap.get(id)?.tags;
    return list && Object.fromEntries(list.map((t) => [t.Key, t.Value]));
  }

  pingStatus(i: Pick<InstanceRecord, 'pingStatusOverride' | 'lastPingDateTime'>): PingStatus {
    if (i.pingStatusOverride) return i.pingStatusOverride;
    if (!i.lastPingDateTime) return 'ConnectionLost';
    return this.clock.now().getTime() - i.lastPingDateTime.getTime() <= this.pingTimeoutMs ? 'Online' : 'ConnectionLost';
  }

  calls(): CallRecord[] {
    return this.callLog.map((c) => ({ ...c }));
  }

  callsTo(operation: string): CallRecord[] {
    return this.calls().filter((c) => c.operation === operation);
  }

  clearCalls(): void {
    this.callLog.length = 0;
  }

  // ---- test hooks -------------------------------------------------------------------------------------------

  /** an agent's heartbeat (the real agent's UpdateInstanceInformation): the instance is Online from now */
  ping(instanceId: string, details: InstanceHeartbeat = {}): void {
    const i = this.instanceMap.get(instanceId);
    if (!i) throw new Error(`no instance ${instanceId}`);
    Object.assign(i, stripUndefined(details), { lastPingDateTime: this.clock.now() });
  }

  /** pins an instance's PingStatus (undefined: computed from its last ping again) */
  setPingStatus(instanceId: string, status: PingStatus | undefined): void {
    const i = this.instanceMap.get(instanceId);
    if (!i) throw new Error(`no instance ${instanceId}`);
    i.pingStatusOverride = status;
  }

  /** adds an instance that did not register through the API (an EC2 instance, a fleet to page through) */
  addInstance(seed: InstanceSeed = {}): InstanceRecord {
    const resourceType = seed.resourceType ?? 'ManagedInstance';
    const now = this.clock.now();
    const record: InstanceRecord = {
      platformType: 'Linux',
      lastPingDateTime: now,
      ...stripUndefined(seed),
      instanceId: seed.instanceId ?? newInstanceId(resourceType === 'EC2Instance' ? 'i' : 'mi'),
      resourceType,
      registrationDate: seed.registrationDate ?? now,
      tags: copyTags(seed.tags ?? []),
    };
    this.instanceMap.set(record.instanceId, record);
    return this.copyInstance(record);
  }

  /** forgets every activation, instance and call */
  reset(): void {
    this.activationMap.clear();
    this.instanceMap.clear();
    this.roleCredentialMap.clear();
    this.callLog.length = 0;
  }

  // ---- for the server ---------------------------------------------------------------------------------------

  record(call: CallRecord): void {
    this.callLog.push(call);
  }

  newActivation(fields: Omit<ActivationRecord, 'activationId' | 'activationCode' | 'registrationsCount' | 'createdDate'>): ActivationRecord {
    const record: ActivationRecord = {
      ...fields,
      activationId: randomUUID(),
      activationCode: newActivationCode(),
      registrationsCount: 0,
      createdDate: this.clock.now(),
      tags: copyTags(fields.tags),
    };
    this.activationMap.set(record.activationId, record);
    return record;
  }

  private copyActivation(a: ActivationRecord): ActivationRecord {
    return { ...a, expirationDate: new Date(a.expirationDate), createdDate: new Date(a.createdDate), tags: copyTags(a.tags) };
  }

  private copyInstance(i: InstanceRecord): InstanceRecord {
    return { ...i, tags: copyTags(i.tags) };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
