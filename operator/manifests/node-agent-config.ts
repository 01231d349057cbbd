// Renders the spec into what the node agent reads. Pure.
import {
  ACTIVATION_SECRET_DIR,
  MIRROR_SECRET_DIR,
  MIRROR_CA_DIR,
  MIRROR_CA_FILE,
  NODE_AGENT_CONFIG_VERSION,
  NODE_AGENT_METRICS_PORT,
  PROXY_SECRET_DIR,
  type NodeAgentConfig,
} from '../api/node-agent-config.ts';
import { defaultEndpoint, parseDurationSeconds, type EndpointName } from '../api/regions.ts';
import type { SsmAgentConfig } from '../api/types.ts';

const IMDS = '169.254.169.254';

export function renderNodeAgentConfig(config: SsmAgentConfig, action: 'Manage' | 'Uninstall' = 'Manage'): NodeAgentConfig {
  const { spec } = config;
  const region = spec.region;
  const endpoint = (service: EndpointName) => spec.endpoints?.[service] ?? defaultEndpoint(service, region);
  const noProxy = [...new Set([...(spec.proxy?.noProxy ?? []), IMDS])];
  return {
    schemaVersion: NODE_AGENT_CONFIG_VERSION,
    configName: config.metadata.name,
    region,
    agent: {
      version: spec.agent.version,
      ...(spec.agent.source?.mirror ? { mirror: spec.agent.source.mirror } : {}),
      ...(spec.agent.source?.mirror && spec.agent.source.mirrorSecretRef ? { mirrorSecretDir: MIRROR_SECRET_DIR, mirrorSecretName: spec.agent.source.mirrorSecretRef.name } : {}),
      ...(spec.agent.source?.mirror && spec.agent.source.caBundle
        ? { mirrorCaFile: `${MIRROR_CA_DIR}/${MIRROR_CA_FILE}`, mirrorCaName: `ConfigMap ${spec.agent.source.caBundle.configMap}, key ${spec.agent.source.caBundle.key}` }
        : {}),
      verify: spec.agent.verify,
      ...(spec.agent.sha256 ? { sha256: spec.agent.sha256 } : {}),
      selfUpdate: spec.agent.selfUpdate,
      existingInstall: spec.agent.existingInstall,
    },
    registration: {
      mode: spec.registration.mode,
      ...(spec.registration.activation ? { activationDir: ACTIVATION_SECRET_DIR } : {}),
    },
    ssmUser: { create: spec.ssmUser.create, sudo: spec.ssmUser.sudo, groups: spec.ssmUser.groups ?? [] },
    proxy: {
      ...(spec.proxy?.httpsProxy ? { httpsProxy: spec.proxy.httpsProxy } : {}),
      ...(spec.proxy?.httpProxy ? { httpProxy: spec.proxy.httpProxy } : {}),
      noProxy,
      ...(spec.proxy?.secretRef ? { secretDir: PROXY_SECRET_DIR, secretName: spec.proxy.secretRef.name } : {}),
    },
    endpoints: { ssm: endpoint('ssm'), ec2messages: endpoint('ec2messages'), ssmmessages: endpoint('ssmmessages'), s3: endpoint('s3') },
    connectivity: {
      intervalSeconds: parseDurationSeconds(spec.connectivity.interval),
      timeoutSeconds: parseDurationSeconds(spec.connectivity.timeout),
    },
    deletionPolicy: spec.deletionPolicy,
    action,
    metricsPort: NODE_AGENT_METRICS_PORT,
  };
}
