// Names of the API, relied on by users, dashboards and the chart (contract in DESIGN.md).
export const GROUP = 'ssmagent.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'SsmAgentConfig';
export const LIST_KIND = 'SsmAgentConfigList';
export const PLURAL = 'ssmagentconfigs';
export const SINGULAR = 'ssmagentconfig';
export const SHORT_NAMES = ['sac'];
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Finalizer that runs the deletionPolicy before a config goes away. */
export const FINALIZER = `${GROUP}/cleanup`;

/** Per-node facts on Node objects (contract). */
export const NODE_ANNOTATION_INSTANCE_ID = `${GROUP}/managed-instance-id`;
export const NODE_ANNOTATION_AGENT_VERSION = `${GROUP}/agent-version`;
export const NODE_LABEL_REGISTERED = `${GROUP}/registered`;

/** The audience of the projected token node agents present to the operator. */
export const FLEET_TOKEN_AUDIENCE = `${GROUP}/fleet`;
