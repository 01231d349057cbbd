// The SSM calls the operator makes, over one configured client: hybrid activations (create, describe, delete) and
// managed instances (list by tag, describe, deregister, tag). Results are plain objects; "already gone" answers
// (InvalidActivation, InvalidActivationId, InvalidInstanceId) become return values, every other failure throws
// the SDK's error (its `name` is the AWS error code, see ssmErrorCode).
import {
  AddTagsToResourceCommand,
  CreateActivationCommand,
  DeleteActivationCommand,
  DeregisterManagedInstanceCommand,
  DescribeActivationsCommand,
  DescribeInstanceInformationCommand,
  ListTagsForResourceCommand,
  type Activation,
  type InstanceInformation,
  type InstanceInformationStringFilter,
  type SSMClient,
  type Tag,
} from '@aws-sdk/client-ssm';
import { createSsmClient, type SsmClientOptions } from './ssm-client.ts';
import { isSsmError } from './ssm-errors.ts';

export interface ActivationSpec {
  /** the IAM service role the managed instances assume (name or path/name) */
  iamRole: string;
  registrationLimit: number;
  /** at most 30 days ahead (SSM's limit) */
  expirationDate: Date;
  tags?: Record<string, string>;
  description?: string;
  defaultInstanceName?: string;
}

export interface CreatedActivation {
  id: string;
  /** secret: goes into a Secret, never into logs, events or status */
  code: string;
}

export interface ActivationInfo {
  id: string;
  expired: boolean;
  expiresAt: Date | undefined;
  registrationsCount: number;
  registrationLimit: number;
  iamRole: string | undefined;
  defaultInstanceName: string | undefined;
  description: string | undefined;
  createdAt: Date | undefined;
  tags: Record<string, string>;
}

export type PingStatus = 'Online' | 'ConnectionLost' | 'Inactive';

export interface ManagedInstanceInfo {
  instanceId: string;
  pingStatus: PingStatus | undefined;
  lastPingAt: Date | undefined;
  agentVersion: string | undefined;
  isLatestVersion: boolean | undefined;
  platformType: string | undefined;
  platformName: string | undefined;
  platformVersion: string | undefined;
  activationId: string | undefined;
  iamRole: string | undefined;
  registeredAt: Date | undefined;
  /** ManagedInstance (hybrid, mi-…) or EC2Instance (i-…) */
  resourceType: string | undefined;
  name: string | undefined;
  ipAddress: string | undefined;
  computerName: string | undefined;
}

export interface SsmApi {
  readonly client: SSMClient;
  createActivation(spec: ActivationSpec): Promise<CreatedActivation>;
  /** undefined when no such activation (deleted, or never existed) */
  describeActivation(id: string): Promise<ActivationInfo | undefined>;
  /** 'absent' when it was already gone */
  deleteActivation(id: string): Promise<'deleted' | 'absent'>;
  /** every activation whose DefaultInstanceName is `name`, all pages */
  listActivationsNamed(name: string): Promise<ActivationInfo[]>;
  /** every hybrid managed instance (mi-…) carrying all of `tagFilters`, all pages */
  listManagedInstances(opts?: { tagFilters?: Record<string, string> }): Promise<ManagedInstanceInfo[]>;
  /** the instances among `ids` that SSM knows, by id */
  describeInstances(ids: readonly string[]): Promise<Map<string, ManagedInstanceInfo>>;
  /** 'absent' when SSM no longer knows the instance (InvalidInstanceId) */
  deregisterInstance(id: string): Promise<'deregistered' | 'absent'>;
  /** adds or overwrites tags of a managed instance */
  tagInstance(id: string, tags: Record<string, string>): Promise<void>;
  listInstanceTags(id: string): Promise<Record<string, string>>;
  /** closes the client's sockets */
  destroy(): void;
}

/** DescribeInstanceInformation answers at most 50 per page and takes at most 50 ids per call here. */
const PAGE_SIZE = 50;

export function tagList(tags: Record<string, string> | undefined): Tag[] {
  return Object.entries(tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
}

export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

export function activationInfo(a: Activation): ActivationInfo | undefined {
  if (!a.ActivationId) return undefined;
  return {
    id: a.ActivationId,
    expired: a.Expired ?? (a.ExpirationDate !== undefined && a.ExpirationDate.getTime() <= Date.now()),
    expiresAt: a.ExpirationDate,
    registrationsCount: a.RegistrationsCount ?? 0,
    registrationLimit: a.RegistrationLimit ?? 0,
    iamRole: a.IamRole,
    defaultInstanceName: a.DefaultInstanceName,
    description: a.Description,
    createdAt: a.CreatedDate,
    tags: tagMap(a.Tags),
  };
}

export function instanceInfo(i: InstanceInformation): ManagedInstanceInfo | undefined {
  if (!i.InstanceId) return undefined;
  return {
    instanceId: i.InstanceId,
    pingStatus: i.PingStatus,
    lastPingAt: i.LastPingDateTime,
    agentVersion: i.AgentVersion,
    isLatestVersion: i.IsLatestVersion,
    platformType: i.PlatformType,
    platformName: i.PlatformName,
    platformVersion: i.PlatformVersion,
    activationId: i.ActivationId,
    iamRole: i.IamRole,
    registeredAt: i.RegistrationDate,
    resourceType: i.ResourceType,
    name: i.Name,
    ipAddress: i.IPAddress,
    computerName: i.ComputerName,
  };
}

/** Tag filters as DescribeInstanceInformation takes them: `tag:Key` = value, one filter per tag (all must match). */
export function tagFiltersFor(tags: Record<string, string> | undefined): InstanceInformationStringFilter[] {
  return Object.entries(tags ?? {}).map(([k, v]) => ({ Key: `tag:${k}`, Values: [v] }));
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Errors that prove SSM did not act: only these are retried for a call that is not idempotent. */
const NOT_EXECUTED = ['ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded'];
const CREATE_ATTEMPTS = 5;

/**
 * An SsmApi over an existing client (tests, or a client shared by several callers). `once` (default `client`) sends
 * CreateActivation: give it a client without retries (maxAttempts 1), because a retried create after a lost answer
 * makes a second activation whose code nobody has; only answers that prove nothing happened (throttling) are
 * retried, here.
 */
export function ssmApiFor(client: SSMClient, once: SSMClient = client): SsmApi {
  async function describeAll(filters: InstanceInformationStringFilter[]): Promise<ManagedInstanceInfo[]> {
    const out: ManagedInstanceInfo[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new DescribeInstanceInformationCommand({
          ...(filters.length > 0 ? { Filters: filters } : {}),
          MaxResults: PAGE_SIZE,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      for (const i of page.InstanceInformationList ?? []) {
        const info = instanceInfo(i);
        if (info) out.push(info);
      }
      nextToken = page.NextToken || undefined;
    } while (nextToken);
    return out;
  }

  return {
    client,
    async createActivation(spec) {
      const input = {
        IamRole: spec.iamRole,
        RegistrationLimit: spec.registrationLimit,
        ExpirationDate: spec.expirationDate,
        ...(spec.description !== undefined ? { Description: spec.description } : {}),
        ...(spec.defaultInstanceName !== undefined ? { DefaultInstanceName: spec.defaultInstanceName } : {}),
        ...(spec.tags && Object.keys(spec.tags).length > 0 ? { Tags: tagList(spec.tags) } : {}),
      };
      let out;
      for (let attempt = 1; ; attempt++) {
        try {
          out = await once.send(new CreateActivationCommand(input));
          break;
        } catch (err) {
          if (attempt >= CREATE_ATTEMPTS || !isSsmError(err, ...NOT_EXECUTED)) throw err;
          // full jitter, 100 ms doubling up to 3.2 s
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * 2 ** attempt));
        }
      }
      if (!out.ActivationId || !out.ActivationCode) throw new Error('CreateActivation answered without ActivationId or ActivationCode');
      return { id: out.ActivationId, code: out.ActivationCode };
    },

    async describeActivation(id) {
      const out = await client.send(new DescribeActivationsCommand({ Filters: [{ FilterKey: 'ActivationIds', FilterValues: [id] }] }));
      const found = (out.ActivationList ?? []).find((a) => a.ActivationId === id);
      return found && activationInfo(found);
    },

    async deleteActivation(id) {
      try {
        await client.send(new DeleteActivationCommand({ ActivationId: id }));
        return 'deleted';
      } catch (err) {
        if (isSsmError(err, 'InvalidActivation', 'InvalidActivationId')) return 'absent';
        throw err;
      }
    },

    async listActivationsNamed(name) {
      const out: ActivationInfo[] = [];
      let nextToken: string | undefined;
      do {
        const page = await client.send(
          new DescribeActivationsCommand({ Filters: [{ FilterKey: 'DefaultInstanceName', FilterValues: [name] }], MaxResults: PAGE_SIZE, ...(nextToken ? { NextToken: nextToken } : {}) }),
        );
        for (const a of page.ActivationList ?? []) {
          const info = activationInfo(a);
          if (info) out.push(info);
        }
        nextToken = page.NextToken || undefined;
      } while (nextToken);
      return out;
    },

    async listManagedInstances(opts = {}) {
      // Tag filters cannot be combined with a ResourceType filter, so EC2 instances are dropped here.
      const all = await describeAll(tagFiltersFor(opts.tagFilters));
      return all.filter((i) => i.resourceType === 'ManagedInstance');
    },

    async describeInstances(ids) {
      const found = new Map<string, ManagedInstanceInfo>();
      for (const chunk of chunks([...new Set(ids)], PAGE_SIZE)) {
        let infos: ManagedInstanceInfo[];
        try {
          infos = await describeAll([{ Key: 'InstanceIds', Values: chunk }]);
        } catch (err) {
          if (!isSsmError(err, 'InvalidInstanceId')) throw err;
          // One unknown id can spoil a batch: ask one by one; the unknown ones are simply absent.
          infos = [];
          for (const id of chunk.length > 1 ? chunk : []) {
            try {
              infos.push(...(await describeAll([{ Key: 'InstanceIds', Values: [id] }])));
            } catch (e) {
              if (!isSsmError(e, 'InvalidInstanceId')) throw e;
            }
          }
        }
        for (const info of infos) found.set(info.instanceId, info);
      }
      return found;
    },

    async deregisterInstance(id) {
      try {
        await client.send(new DeregisterManagedInstanceCommand({ InstanceId: id }));
        return 'deregistered';
      } catch (err) {
        if (isSsmError(err, 'InvalidInstanceId')) return 'absent';
        throw err;
      }
    },

    async tagInstance(id, tags) {
      const list = tagList(tags);
      if (list.length === 0) return;
      await client.send(new AddTagsToResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: id, Tags: list }));
    },

    async listInstanceTags(id) {
      const out = await client.send(new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: id }));
      return tagMap(out.TagList);
    },

    destroy() {
      client.destroy();
      if (once !== client) once.destroy();
    },
  };
}

/** An SsmApi over a new client configured by `opts` (see ssm-client.ts). */
export function createSsmApi(opts: SsmClientOptions): SsmApi {
  return ssmApiFor(createSsmClient(opts), createSsmClient({ ...opts, maxAttempts: 1 }));
}
