// The node agent's configuration: rendered by the operator into a ConfigMap, read by the node agent from a
// mounted file. Shared by both processes; versioned so an older node agent can refuse a newer file clearly.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { EndpointName } from './regions.ts';
import { ReasonedError, type Result } from '../lib/errors.ts';

export const NODE_AGENT_CONFIG_VERSION = 1;
export const NODE_AGENT_CONFIG_FILE = 'config.json';
export const NODE_AGENT_CONFIG_DIR = '/etc/ssm-node-agent';
export const ACTIVATION_SECRET_DIR = '/var/run/secrets/ssmagent.io/activation';
export const PROXY_SECRET_DIR = '/var/run/secrets/ssmagent.io/proxy';
export const MIRROR_SECRET_DIR = '/var/run/secrets/ssmagent.io/mirror';
export const FLEET_TOKEN_DIR = '/var/run/secrets/ssmagent.io/fleet-token';
/** The projected fleet token's file name under FLEET_TOKEN_DIR. */
export const FLEET_TOKEN_KEY = 'token';
/** The fleet channel's CA (the ConfigMap the operator keeps), mounted into every node-agent pod. */
export const FLEET_CA_DIR = '/etc/ssm-node-agent-fleet-ca';
/** The fleet CA ConfigMap's key, and so the CA's file name under FLEET_CA_DIR. */
export const FLEET_CA_KEY = 'ca.crt';
export const SIGNING_KEYS_DIR = '/etc/ssm-node-agent-signing-keys';
export const SIGNING_KEYS_FILE = 'keys.asc';
/** The mirror's CA bundle (spec.agent.source.caBundle), mounted from its ConfigMap. */
export const MIRROR_CA_DIR = '/etc/ssm-node-agent-mirror-ca';
export const MIRROR_CA_FILE = 'ca.crt';
export const NODE_AGENT_METRICS_PORT = 9464;
/**
 * The node agent's environment as the DaemonSet sets it (manifests/daemonset.ts) and the node agent reads it
 * (node-agent/settings.ts, fleet/settings.ts, package/signing-keys.ts). Variables only the node agent reads, for
 * tests and local runs (HOST_PID, METRICS_PORT, PASS_INTERVAL_SECONDS, ...), are named where they are read.
 */
export const NODE_AGENT_ENV = {
  nodeName: 'NODE_NAME',
  namespace: 'POD_NAMESPACE',
  revision: 'REVISION',
  configFile: 'CONFIG_FILE',
  fleetEndpoint: 'FLEET_ENDPOINT',
  fleetTokenFile: 'FLEET_TOKEN_FILE',
  fleetCaFile: 'FLEET_CA_FILE',
  signingKeyFile: 'SSM_AGENT_SIGNING_KEY_FILE',
} as const;
/** The longest a host command may run (dpkg, rpm, register): its timeout, and what the pods' grace period covers. */
export const HOST_COMMAND_MAX_SECONDS = 300;

const Str = Type.String();

export const NodeAgentConfig = Type.Object({
  schemaVersion: Type.Literal(NODE_AGENT_CONFIG_VERSION),
  configName: Str,
  region: Str,
  agent: Type.Object({
    version: Str,
    mirror: Type.Optional(Str),
    /** Directory of the mounted mirror Secret (username, password): basic credentials for the mirror's origin. */
    mirrorSecretDir: Type.Optional(Str),
    /** That Secret's name, for messages. */
    mirrorSecretName: Type.Optional(Str),
    /** The mounted PEM bundle trusted for the mirror instead of the public roots. */
    mirrorCaFile: Type.Optional(Str),
    /** Where it comes from (ConfigMap name/key), for messages. */
    mirrorCaName: Type.Optional(Str),
    verify: Type.Union([Type.Literal('Signature'), Type.Literal('Checksum'), Type.Literal('None')]),
    sha256: Type.Optional(Str),
    selfUpdate: Type.Boolean(),
    existingInstall: Type.Union([Type.Literal('Adopt'), Type.Literal('Replace')]),
  }),
  registration: Type.Object({
    mode: Type.Union([Type.Literal('Auto'), Type.Literal('EC2'), Type.Literal('Hybrid')]),
    /** Directory of the mounted activation Secret (activationId, activationCode); absent without an activation. */
    activationDir: Type.Optional(Str),
  }),
  ssmUser: Type.Object({ create: Type.Boolean(), sudo: Type.Boolean(), groups: Type.Array(Str) }),
  proxy: Type.Object({
    httpsProxy: Type.Optional(Str),
    httpProxy: Type.Optional(Str),
    /** Always contains 169.254.169.254 (IMDS). */
    noProxy: Type.Array(Str),
    /** Directory of the mounted proxy Secret (httpsProxy, httpProxy), when the URLs carry credentials. */
    secretDir: Type.Optional(Str),
    /** That Secret's name, for messages. */
    secretName: Type.Optional(Str),
  }),
  /** Resolved host names, overrides or the regional defaults. */
  endpoints: Type.Object({ ssm: Str, ec2messages: Str, ssmmessages: Str, s3: Str } satisfies Record<EndpointName, TSchema>),
  connectivity: Type.Object({ intervalSeconds: Type.Number({ exclusiveMinimum: 0 }), timeoutSeconds: Type.Number({ exclusiveMinimum: 0 }) }),
  deletionPolicy: Type.Union([Type.Literal('Retain'), Type.Literal('Uninstall')]),
  /** Manage keeps the agent as configured; Uninstall (set by the operator while it deletes a config with
   * deletionPolicy Uninstall) removes it from the host. */
  action: Type.Union([Type.Literal('Manage'), Type.Literal('Uninstall')]),
  metricsPort: Type.Integer({ minimum: 1, maximum: 65535 }),
});

export type NodeAgentConfig = Static<typeof NodeAgentConfig>;

/** The rendered configuration, or why it is not one (ConfigInvalid: the node agent's readiness reason). */
export function parseNodeAgentConfig(text: string): Result<{ config: NodeAgentConfig }, 'ConfigInvalid'> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return new ReasonedError('ConfigInvalid', `not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (Value.Check(NodeAgentConfig, raw)) return { ok: true, config: raw };
  const first = [...Value.Errors(NodeAgentConfig, raw)][0];
  return new ReasonedError('ConfigInvalid', first ? `${first.path || '/'}: ${first.message}` : 'invalid');
}
