// The static types of the API, all derived from schema.ts.
import type { SsmAgentConfigSpec, SsmAgentConfigStatus } from './schema.ts';

export type { Condition, SsmAgentConfigSpec, SsmAgentConfigStatus, Toleration, Affinity } from './schema.ts';

export interface ObjectMeta {
  name: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface SsmAgentConfig {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: SsmAgentConfigSpec;
  status?: SsmAgentConfigStatus;
}
