// DescribeInstanceInformation (Filters or the legacy InstanceInformationFilterList, never both; tag filters
// `tag:Key` and `tag-key`; MaxResults 5-50, default 10; NextToken), DeregisterManagedInstance, AddTagsToResource
// and ListTagsForResource (ResourceType ManagedInstance).
import type { OperationContext } from './activations.ts';
import { asObject, Input, readTags, stringList, type Json, type JsonObject } from './input.ts';
import { paginate } from './pagination.ts';
import type { EmulatorState, InstanceRecord } from './state.ts';
import { epochSeconds, SsmError } from './wire.ts';

const INSTANCE_ID = /^(m?i)-[0-9a-f]{8,17}$/;
const MANAGED_INSTANCE_ID = /^mi-[0-9a-f]{17}$/;
const PING_STATUSES = ['Online', 'ConnectionLost', 'Inactive'];
const LEGACY_KEYS = ['InstanceIds', 'AgentVersion', 'PingStatus', 'PlatformTypes', 'ActivationIds', 'IamRole', 'ResourceType', 'AssociationStatus'];
const STRING_KEYS = [...LEGACY_KEYS, 'SourceIds', 'SourceTypes'];

interface Filter {
  key: string;
  values: string[];
}

function sourceType(i: InstanceRecord): string {
  return i.resourceType === 'EC2Instance' ? 'AWS::EC2::Instance' : 'AWS::SSM::ManagedInstance';
}

function matches(i: InstanceRecord, f: Filter, state: EmulatorState): boolean {
  if (f.key.startsWith('tag:')) {
    const k = f.key.slice(4);
    return i.tags.some((t) => t.Key === k && f.values.includes(t.Value));
  }
  const field: Record<string, string | undefined> = {
    'tag-key': undefined,
    InstanceIds: i.instanceId,
    AgentVersion: i.agentVersion,
    PingStatus: state.pingStatus(i),
    PlatformTypes: i.platformType,
    ActivationIds: i.activationId,
    IamRole: i.iamRole,
    ResourceType: i.resourceType,
    AssociationStatus: undefined,
    SourceIds: i.instanceId,
    SourceTypes: sourceType(i),
  };
  if (f.key === 'tag-key') return i.tags.some((t) => f.values.includes(t.Key));
  const v = field[f.key];
  return v !== undefined && f.values.includes(v);
}

function readFilters(list: Json[], keyField: string, valuesField: string, allowed: readonly string[], allowTags: boolean): Filter[] {
  return list.map((item, n) => {
    const o = asObject(item, `filter ${n}`);
    const key = o[keyField];
    if (typeof key !== 'string') throw new SsmError('InvalidFilterKey', 'The specified key isn\'t valid: null.');
    const isTag = key === 'tag-key' || (key.startsWith('tag:') && key.length > 4);
    if (!(allowed.includes(key) || (allowTags && isTag))) throw new SsmError('InvalidFilterKey', `The specified key isn't valid: ${key}.`);
    const values = stringList(o[valuesField], `${keyField}=${key}`);
    if (values.length === 0 || values.length > 100) {
      throw new SsmError('InvalidInstanceInformationFilterValue', `Filter ${key} needs between 1 and 100 values.`);
    }
    if (key === 'InstanceIds') {
      const bad = values.find((v) => !INSTANCE_ID.test(v));
      if (bad !== undefined) throw new SsmError('InvalidInstanceId', `Invalid instance id: ${bad}.`);
    }
    if (key === 'PingStatus') {
      const bad = values.find((v) => !PING_STATUSES.includes(v));
      if (bad !== undefined) throw new SsmError('InvalidInstanceInformationFilterValue', `The specified filter value isn't valid: ${bad}.`);
    }
    return { key, values };
  });
}

function instanceJson(i: InstanceRecord, state: EmulatorState): JsonObject {
  const out: JsonObject = { InstanceId: i.instanceId, PingStatus: state.pingStatus(i) };
  if (i.lastPingDateTime) out.LastPingDateTime = epochSeconds(i.lastPingDateTime);
  if (i.agentVersion !== undefined) {
    out.AgentVersion = i.agentVersion;
    out.IsLatestVersion = false;
  }
  out.PlatformType = i.platformType;
  if (i.platformName !== undefined) out.PlatformName = i.platformName;
  if (i.platformVersion !== undefined) out.PlatformVersion = i.platformVersion;
  if (i.activationId !== undefined) out.ActivationId = i.activationId;
  if (i.iamRole !== undefined) out.IamRole = i.iamRole;
  out.RegistrationDate = epochSeconds(i.registrationDate);
  out.ResourceType = i.resourceType;
  if (i.name !== undefined) out.Name = i.name;
  if (i.ipAddress !== undefined) out.IPAddress = i.ipAddress;
  if (i.computerName !== undefined) out.ComputerName = i.computerName;
  out.SourceId = i.instanceId;
  out.SourceType = sourceType(i);
  return out;
}

export function describeInstanceInformation(body: JsonObject, { state }: OperationContext): JsonObject {
  const input = new Input(body);
  const legacy = input.list('InstanceInformationFilterList');
  const filters = input.list('Filters');
  const maxResults = input.integer('MaxResults', { min: 5, max: 50 }) ?? 10;
  const nextToken = input.string('NextToken');
  input.done();
  if (legacy !== undefined && filters !== undefined) {
    throw new SsmError('InvalidInstanceInformationFilterValue', 'InstanceInformationFilterList and Filters can\'t be used together.');
  }
  const parsed = filters !== undefined ? readFilters(filters, 'Key', 'Values', STRING_KEYS, true) : readFilters(legacy ?? [], 'key', 'valueSet', LEGACY_KEYS, false);
  const tagFilters = parsed.filter((f) => f.key.startsWith('tag:') || f.key === 'tag-key').length;
  if (tagFilters > 0 && tagFilters < parsed.length) {
    throw new SsmError('InvalidInstanceInformationFilterValue', 'Tag filters can\'t be combined with other filter types.');
  }
  const all = [...state.instanceMap.values()].filter((i) => parsed.every((f) => matches(i, f, state)));
  const { page, nextToken: next } = paginate(all, maxResults, nextToken, parsed);
  const out: JsonObject = { InstanceInformationList: page.map((i) => instanceJson(i, state)) };
  if (next) out.NextToken = next;
  return out;
}

export function deregisterManagedInstance(body: JsonObject, { state }: OperationContext): JsonObject {
  const input = new Input(body);
  const id = input.string('InstanceId', { required: true, min: 20, max: 124 });
  if (id !== undefined && !MANAGED_INSTANCE_ID.test(id)) input.violation('InstanceId', id, `satisfy regular expression pattern: ${MANAGED_INSTANCE_ID.source}`);
  input.done();
  const i = id === undefined ? undefined : state.instanceMap.get(id);
  if (id === undefined || !i || i.resourceType !== 'ManagedInstance') {
    throw new SsmError('InvalidInstanceId', `Instance Id ${id ?? ''} is not a registered managed instance.`);
  }
  state.instanceMap.delete(id);
  return {};
}

/** ResourceTypeForTagging as modelled; there is no "Activation" (an activation's tags are fixed at creation). */
const TAGGABLE = ['Association', 'Automation', 'CloudConnector', 'Document', 'MaintenanceWindow', 'ManagedInstance', 'OpsMetadata', 'OpsItem', 'Parameter', 'PatchBaseline'];
/** tags one resource may carry */
export const MAX_TAGS_PER_RESOURCE = 50;

function taggedInstance(input: Input, state: EmulatorState): InstanceRecord {
  const type = input.string('ResourceType', { required: true, values: TAGGABLE });
  const id = input.string('ResourceId', { required: true });
  input.done();
  if (type !== 'ManagedInstance') throw new SsmError('InvalidResourceId', `The resource ID isn't valid: no ${type} ${id} in this emulator.`);
  if (id?.startsWith('i-')) throw new SsmError('InvalidResourceType', 'The resource type isn\'t valid: an EC2 instance must be tagged with EC2.');
  const i = id === undefined ? undefined : state.instanceMap.get(id);
  if (!i || i.resourceType !== 'ManagedInstance') throw new SsmError('InvalidResourceId', `The resource ID isn't valid: ${id}.`);
  return i;
}

export function addTagsToResource(body: JsonObject, { state }: OperationContext): JsonObject {
  const input = new Input(body);
  const tags = readTags(input, 'Tags', 1000);
  if (tags.length === 0) input.violation('Tags', undefined, 'not be null');
  const i = taggedInstance(input, state);
  const merged = new Map(i.tags.map((t) => [t.Key, t.Value]));
  for (const t of tags) merged.set(t.Key, t.Value);
  if (merged.size > MAX_TAGS_PER_RESOURCE) {
    throw new SsmError('TooManyTagsError', `The resource can have at most ${MAX_TAGS_PER_RESOURCE} tags.`);
  }
  i.tags = [...merged].map(([Key, Value]) => ({ Key, Value }));
  return {};
}

export function listTagsForResource(body: JsonObject, { state }: OperationContext): JsonObject {
  const i = taggedInstance(new Input(body), state);
  return { TagList: i.tags.map((t) => ({ Key: t.Key, Value: t.Value })) };
}
