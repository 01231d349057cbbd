// The node agent's settings, from its environment (set by the DaemonSet the operator builds). Pure.
import { NODE_AGENT_CONFIG_DIR, NODE_AGENT_CONFIG_FILE, NODE_AGENT_ENV, NODE_AGENT_METRICS_PORT } from '../operator/api/node-agent-config.ts';
import { MAX_TIMER_SECONDS } from '../operator/lib/sleep.ts';

export interface NodeAgentSettings {
  configFile: string;
  nodeName: string;
  /** The host process whose namespaces host commands run in: PID 1 of the node (hostPID). */
  hostPid: number;
  metricsPort: number;
  passIntervalMs: number;
  imdsEndpoint: string;
  /** The revision of this pod's configuration (the pod's ssmagent.io/revision annotation, via the downward API). */
  revision?: string;
  /** Extra CA bundle for the probes (a corporate TLS-inspecting proxy's CA). */
  probeCaFile?: string;
}

export function readNodeAgentSettings(env: Record<string, string | undefined>): { ok: true; settings: NodeAgentSettings } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const int = (name: string, fallback: number, max = Number.MAX_SAFE_INTEGER) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max) errors.push(`${name}=${JSON.stringify(raw)} must be a whole number from 1 to ${max}`);
    return n;
  };
  const revision = env[NODE_AGENT_ENV.revision];
  const settings: NodeAgentSettings = {
    configFile: env[NODE_AGENT_ENV.configFile] || `${NODE_AGENT_CONFIG_DIR}/${NODE_AGENT_CONFIG_FILE}`,
    nodeName: env[NODE_AGENT_ENV.nodeName] || 'unknown',
    hostPid: int('HOST_PID', 1),
    metricsPort: int('METRICS_PORT', NODE_AGENT_METRICS_PORT, 65535),
    // at most 24 days: a longer timer overflows setTimeout (2^31-1 ms) and fires at once, in a tight loop
    passIntervalMs: int('PASS_INTERVAL_SECONDS', 300, MAX_TIMER_SECONDS) * 1000,
    imdsEndpoint: env.IMDS_ENDPOINT || 'http://169.254.169.254',
    ...(env.PROBE_CA_FILE ? { probeCaFile: env.PROBE_CA_FILE } : {}),
    // Only a revision-shaped value: it is echoed in /readyz and reported to the operator.
    ...(revision && /^[0-9a-f]{1,64}$/.test(revision) ? { revision } : {}),
  };
  return errors.length > 0 ? { ok: false, errors } : { ok: true, settings };
}
