import type { SsmAgentConfig } from '../api/types.ts';

/** What the builders need to know beyond the config itself: where the operator runs and with what image. */
export interface BuildContext {
  /** The operator's namespace; node agents run there too. */
  namespace: string;
  /** Image of the node agent when the spec does not name one: the operator's own image. */
  nodeAgentImage: string;
  /** Host:port of the operator's fleet endpoint, passed to the node agents. */
  fleetEndpoint?: string;
}

/** What a revision is made of beyond the spec. */
export interface RevisionInputs {
  /** Digest of each referenced input's data by inputKey (revision.ts) ('absent' when it does not exist); never the data. */
  digests: Record<string, string>;
  /** The version `latest` stands for, resolved once by the operator; written into the revision. */
  resolvedVersion?: string;
}

export interface OwnedInput {
  config: SsmAgentConfig;
  context: BuildContext;
  /** What the node agents are told to do: keep the agent (default), or remove it (deletionPolicy Uninstall). */
  action?: 'Manage' | 'Uninstall';
  /** Digests of referenced Secrets and the resolved `latest` (the controller reads them; tests may omit them). */
  inputs?: RevisionInputs;
}
