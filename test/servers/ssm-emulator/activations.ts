// CreateActivation, DescribeActivations, DeleteActivation and RegisterManagedInstance (the call the agent's
// `-register` makes, anonymously: ActivationCode, ActivationId, PublicKey, PublicKeyType, Fingerprint → InstanceId).
// Error codes are SSM's: InvalidActivation, InvalidActivationId, ActivationExpired, RegistrationLimitExceeded,
// InvalidPublicKey, InstanceAlreadyRegistered, InvalidFilter, InvalidNextToken, InvalidParameters.
import { createPublicKey } from 'node:crypto';
import { asObject, Input, readTags, stringList, type Json, type JsonObject } from './input.ts';
import { paginate } from './pagination.ts';
import { newInstanceId, type ActivationRecord, type EmulatorState } from './state.ts';
import { epochSeconds, SsmError } from './wire.ts';

export interface OperationContext {
  state: EmulatorState;
  userAgent?: string;
  /** the managed instance the request authenticated as (its registration key or its role credentials) */
  instanceId?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** "You can specify a date up to 30 days in advance" (CreateActivation); a minute of slack for the client's clock. */
const MAX_EXPIRY_MS = 30 * DAY_MS + 60 * 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createActivation(body: JsonObject, { state }: OperationContext): JsonObject {
  const input = new Input(body);
  const iamRole = input.string('IamRole', { required: true, max: 64 });
  const description = input.string('Description', { max: 256 });
  const defaultInstanceName = input.string('DefaultInstanceName', { max: 256 });
  const registrationLimit = input.integer('RegistrationLimit', { min: 1, max: 1000 }) ?? 1;
  const expirationDate = input.timestamp('ExpirationDate');
  const tags = readTags(input, 'Tags', 1000);
  input.done();
  const now = state.clock.now();
  const expires = expirationDate ?? new Date(now.getTime() + DAY_MS);
  if (expires.getTime() <= now.getTime()) {
    throw new SsmError('InvalidParameters', 'ExpirationDate must be in the future.');
  }
  if (expires.getTime() - now.getTime() > MAX_EXPIRY_MS) {
    throw new SsmError('InvalidParameters', 'ExpirationDate can be at most 30 days in the future.');
  }
  const a = state.newActivation({
    iamRole: iamRole ?? '',
    registrationLimit,
    expirationDate: expires,
    tags,
    ...(description !== undefined ? { description } : {}),
    ...(defaultInstanceName !== undefined ? { defaultInstanceName } : {}),
  });
  return { ActivationId: a.activationId, ActivationCode: a.activationCode };
}

export function activationJson(a: ActivationRecord, state: EmulatorState): JsonObject {
  const out: JsonObject = { ActivationId: a.activationId };
  if (a.description !== undefined) out.Description = a.description;
  if (a.defaultInstanceName !== undefined) out.DefaultInstanceName = a.defaultInstanceName;
  out.IamRole = a.iamRole;
  out.RegistrationLimit = a.registrationLimit;
  out.RegistrationsCount = a.registrationsCount;
  out.ExpirationDate = epochSeconds(a.expirationDate);
  out.Expired = state.isExpired(a);
  out.CreatedDate = epochSeconds(a.createdDate);
  out.Tags = a.tags.map((t) => ({ Key: t.Key, Value: t.Value }));
  return out;
}

const ACTIVATION_FILTER_KEYS = ['ActivationIds', 'DefaultInstanceName', 'IamRole'] as const;

export function describeActivations(body: JsonObject, { state }: OperationContext): JsonObject {
  const input = new Input(body);
  const filters = input.list('Filters') ?? [];
  const maxResults = input.integer('MaxResults', { min: 1, max: 50 }) ?? 50;
  const nextToken = input.string('NextToken');
  input.done();
  const parsed = filters.map((f: Json, i) => {
    const o = asObject(f, `Filters[${i}]`);
    const key = o.FilterKey;
    if (typeof key !== 'string' || !(ACTIVATION_FILTER_KEYS as readonly string[]).includes(key)) {
      throw new SsmError('InvalidFilter', `The filter name isn't valid: ${JSON.stringify(key ?? null)}. Valid names: ${ACTIVATION_FILTER_KEYS.join(', ')}.`);
    }
    return { key, values: stringList(o.FilterValues, `Filters[${i}].FilterValues`) };
  });
  const all = [...state.activationMap.values()].filter((a) =>
    parsed.every(({ key, values }) => {
      const v = key === 'ActivationIds' ? a.activationId : key === 'IamRole' ? a.iamRole : a.defaultInstanceName;
      return v !== undefined && values.includes(v);
    }),
  );
  const { page, nextToken: next } = paginate(all, maxResults, nextToken, parsed);
  const out: JsonObject = { ActivationList: page.map((a) => activationJson(a, state)) };
  if (next) out.NextToken = next;
  return out;
}

export function deleteActivation(body: JsonObject, { state }: OperationContext): JsonObject {
  const input = new Input(body);
  const id = input.string('ActivationId', { required: true });
  input.done();
  if (id === undefined || !UUID.test(id)) {
    throw new SsmError('InvalidActivationId', `The activation ID isn't valid: ${JSON.stringify(id ?? null)}.`);
  }
  if (!state.activationMap.delete(id)) {
    throw new SsmError('InvalidActivation', `Activation ID ${id} doesn't exist; it might have been deleted.`);
  }
  // As in SSM, deleting an activation does not deregister the instances that registered with it.
  return {};
}

/** The RSA public key the agent sends: base64 of the PKIX (SubjectPublicKeyInfo) DER, as x509.MarshalPKIXPublicKey. */
function isRsaPublicKey(b64: string): boolean {
  try {
    const der = Buffer.from(b64, 'base64');
    if (der.toString('base64') !== b64.replace(/\s+/g, '')) return false;
    return createPublicKey({ key: der, format: 'der', type: 'spki' }).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}

export function registerManagedInstance(body: JsonObject, { state, userAgent }: OperationContext): JsonObject {
  const input = new Input(body);
  const activationCode = input.string('ActivationCode', { min: 20, max: 250 });
  const activationId = input.string('ActivationId', { min: 36, max: 36 });
  const publicKey = input.string('PublicKey', { required: true, min: 392 });
  const publicKeyType = input.string('PublicKeyType', { values: ['Rsa'] });
  const fingerprint = input.string('Fingerprint', { required: true });
  input.done();
  const activation = activationId === undefined ? undefined : state.activationMap.get(activationId);
  if (!activation || activationCode === undefined || activation.activationCode !== activationCode) {
    // SSM answers this without a message; the agent prints "InvalidActivation: ".
    throw new SsmError('InvalidActivation', '');
  }
  if (state.isExpired(activation)) throw new SsmError('ActivationExpired', '');
  if (activation.registrationsCount >= activation.registrationLimit) {
    throw new SsmError('RegistrationLimitExceeded', `Registration limit of ${activation.registrationLimit} reached for SSM On-prem managed instances.`);
  }
  if (!isRsaPublicKey(publicKey ?? '')) throw new SsmError('InvalidPublicKey', 'The public key is not a valid base64 DER RSA public key.');
  for (const i of state.instanceMap.values()) {
    if (i.publicKey === publicKey) throw new SsmError('InstanceAlreadyRegistered', `An instance is already registered with this public key: ${i.instanceId}.`);
  }
  activation.registrationsCount++;
  const now = state.clock.now();
  const agentVersion = /amazon-ssm-agent\/(\S+)/.exec(userAgent ?? '')?.[1];
  const record = state.addInstance({
    instanceId: newInstanceId('mi'),
    resourceType: 'ManagedInstance',
    activationId: activation.activationId,
    iamRole: activation.iamRole,
    registrationDate: now,
    platformType: 'Linux',
    fingerprint: fingerprint ?? '',
    publicKey: publicKey ?? '',
    publicKeyType: publicKeyType ?? 'Rsa',
    // "tags assigned to the activation are automatically applied to the on-premises servers or VMs"
    tags: activation.tags,
    ...(activation.defaultInstanceName !== undefined ? { name: activation.defaultInstanceName } : {}),
    ...(agentVersion !== undefined ? { agentVersion } : {}),
  });
  // Online only once the agent itself pings (UpdateInstanceInformation with its role credentials), as in SSM.
  delete state.instanceMap.get(record.instanceId)?.lastPingDateTime;
  return { InstanceId: record.instanceId };
}
