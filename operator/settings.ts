// The operator's settings, from its environment (set by the Helm chart). Pure: bad values give errors that name
// the variable and the fix.
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { readAwsProxy, type AwsProxy } from './aws/proxy-agent.ts';
import { MAX_TIMER_SECONDS } from './lib/sleep.ts';
import { OPERATOR_DIAGNOSE_PORT, OPERATOR_FLEET_PORT, OPERATOR_HTTP_PORT } from './manifests/names.ts';
import type { NodeAgentDefaults } from './manifests/node-agent-defaults.ts';

export interface OperatorSettings {
  namespace: string;
  identity: string;
  nodeAgentImage: string;
  httpPort: number;
  leaderElection: boolean;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  resyncMs: number;
  workers: number;
  /** The cluster's identity in SSM tags; '' derives it from the kube-system namespace's UID (cluster/identity.ts). */
  clusterName: string;
  /** Port of the fleet channel (TLS WebSocket); 0 turns it off. */
  fleetPort: number;
  /** Port of the diagnosis endpoint (HTTPS, leader only, reached through the API server's pod proxy); 0 turns it off. */
  diagnosePort: number;
  /** The operator's Service, whose ClusterIP the node agents dial and whose names the certificate carries. */
  serviceName: string;
  /** An address the node agents dial instead of the Service's ClusterIP (a NodePort or load balancer address). */
  fleetAdvertiseAddress?: string;
  /**
   * The fleet's own Service (no selector): the node agents dial its ClusterIP, and the leader routes it to itself by
   * writing its EndpointSlice with podIp, so that a standby never receives them. Unset: the operator Service's.
   */
  fleetServiceName?: string;
  /** This pod's address (POD_IP, downward API): what the leader writes into the fleet Service's EndpointSlice. */
  podIp?: string;
  /** Systems Manager endpoint override (VPC endpoint, FIPS, another partition; the test emulator). */
  ssmEndpoint?: string;
  /** How often each config's activation and managed instances are checked with Systems Manager. */
  ssmSyncIntervalMs: number;
  /** How often the operator looks up what `latest` stands for (LATEST_VERSION_INTERVAL_SECONDS, default 1 h). */
  latestVersionIntervalMs: number;
  /** The proxy of the operator's own AWS calls (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); {} for none. */
  awsProxy: AwsProxy;
  /** A PEM file of CAs the AWS calls trust instead of Node's bundle (AWS_CA_BUNDLE). */
  awsCaBundleFile?: string;
  /** Defaults for every config's node agents (NODE_AGENT_PRIORITY_CLASS_NAME, NODE_AGENT_IMAGE_PULL_SECRETS,
   * NODE_AGENT_TOLERATE_CONTROL_PLANE); a config's own daemonSet.* wins. */
  nodeAgentDefaults: NodeAgentDefaults;
}

type Env = Record<string, string | undefined>;

/** A DNS subdomain (PriorityClass, Secret names). */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function nodeAgentDefaults(env: Env, errors: string[]): NodeAgentDefaults {
  const priorityClassName = env.NODE_AGENT_PRIORITY_CLASS_NAME?.trim() ?? '';
  if (priorityClassName && (!DNS_SUBDOMAIN.test(priorityClassName) || priorityClassName.length > 253)) {
    errors.push(`NODE_AGENT_PRIORITY_CLASS_NAME=${JSON.stringify(priorityClassName)} must be a PriorityClass name (lowercase letters, digits, "-" and "."), e.g. system-node-critical`);
  }
  const secrets = (env.NODE_AGENT_IMAGE_PULL_SECRETS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of secrets) {
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253) errors.push(`NODE_AGENT_IMAGE_PULL_SECRETS: ${JSON.stringify(name)} is not a Secret name (comma-separated names)`);
  }
  const tolerate = (env.NODE_AGENT_TOLERATE_CONTROL_PLANE ?? 'false').toLowerCase();
  if (!['true', 'false'].includes(tolerate)) errors.push(`NODE_AGENT_TOLERATE_CONTROL_PLANE=${JSON.stringify(env.NODE_AGENT_TOLERATE_CONTROL_PLANE)} must be true or false`);
  return {
    ...(priorityClassName ? { priorityClassName } : {}),
    ...(secrets.length > 0 ? { imagePullSecrets: secrets } : {}),
    ...(tolerate === 'true' ? { tolerateControlPlane: true } : {}),
  };
}


function positiveNumber(env: Env, name: string, fallback: number, errors: string[], max = MAX_TIMER_SECONDS): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    errors.push(`${name}=${JSON.stringify(raw)} must be a positive number of at most ${max}`);
    return fallback;
  }
  return n;
}

export function readSettings(env: Env): { ok: true; settings: OperatorSettings } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const namespace = env.POD_NAMESPACE ?? '';
  if (!namespace) errors.push('POD_NAMESPACE is not set: set it to the namespace the operator runs in (the Helm chart sets it from the downward API)');
  const nodeAgentImage = env.NODE_AGENT_IMAGE ?? '';
  if (!nodeAgentImage) errors.push('NODE_AGENT_IMAGE is not set: set it to the image of the node agent (by default the operator image; the Helm chart sets it)');
  const le = (env.LEADER_ELECTION ?? 'true').toLowerCase();
  if (!['true', 'false'].includes(le)) errors.push(`LEADER_ELECTION=${JSON.stringify(env.LEADER_ELECTION)} must be true or false`);
  const httpPort = positiveNumber(env, 'HTTP_PORT', OPERATOR_HTTP_PORT, errors);
  if (!Number.isInteger(httpPort) || httpPort > 65535) errors.push(`HTTP_PORT=${httpPort} must be a port number (1-65535)`);
  const proxy = readAwsProxy(env);
  if (!proxy.ok) errors.push(...proxy.errors.map((e) => `${e}: it is the proxy of the operator's AWS calls (chart value proxy.*)`));
  const settings: OperatorSettings = {
    namespace,
    identity: env.POD_NAME || `${hostname()}-${process.pid}`,
    nodeAgentImage,
    httpPort,
    leaderElection: le === 'true',
    leaseName: env.LEASE_NAME || 'ssm-agent-operator-leader',
    leaseDurationMs: positiveNumber(env, 'LEASE_DURATION_SECONDS', 15, errors) * 1000,
    renewDeadlineMs: positiveNumber(env, 'RENEW_DEADLINE_SECONDS', 10, errors) * 1000,
    retryPeriodMs: positiveNumber(env, 'RETRY_PERIOD_SECONDS', 2, errors) * 1000,
    resyncMs: positiveNumber(env, 'RESYNC_SECONDS', 600, errors) * 1000,
    workers: positiveNumber(env, 'WORKERS', 2, errors),
    clusterName: env.CLUSTER_NAME?.trim() ?? '',
    fleetPort: env.FLEET_PORT === '0' ? 0 : positiveNumber(env, 'FLEET_PORT', OPERATOR_FLEET_PORT, errors),
    diagnosePort: env.DIAGNOSE_PORT === '0' ? 0 : positiveNumber(env, 'DIAGNOSE_PORT', OPERATOR_DIAGNOSE_PORT, errors),
    serviceName: env.OPERATOR_SERVICE_NAME || 'ssm-agent-operator',
    ...(env.FLEET_ADVERTISE_ADDRESS ? { fleetAdvertiseAddress: env.FLEET_ADVERTISE_ADDRESS } : {}),
    ...(env.FLEET_SERVICE_NAME ? { fleetServiceName: env.FLEET_SERVICE_NAME } : {}),
    ...(env.POD_IP ? { podIp: env.POD_IP } : {}),
    ...(env.SSM_ENDPOINT ? { ssmEndpoint: env.SSM_ENDPOINT } : {}),
    ssmSyncIntervalMs: positiveNumber(env, 'SSM_SYNC_INTERVAL_SECONDS', 300, errors) * 1000,
    latestVersionIntervalMs: positiveNumber(env, 'LATEST_VERSION_INTERVAL_SECONDS', 3600, errors) * 1000,
    awsProxy: proxy.ok ? proxy.proxy : {},
    ...(env.AWS_CA_BUNDLE ? { awsCaBundleFile: env.AWS_CA_BUNDLE } : {}),
    nodeAgentDefaults: nodeAgentDefaults(env, errors),
  };
  if (settings.podIp !== undefined && isIP(settings.podIp) === 0) errors.push(`POD_IP=${JSON.stringify(settings.podIp)} is not an IP address`);
  if (settings.renewDeadlineMs >= settings.leaseDurationMs) errors.push('RENEW_DEADLINE_SECONDS must be less than LEASE_DURATION_SECONDS');
  return errors.length > 0 ? { ok: false, errors } : { ok: true, settings };
}
