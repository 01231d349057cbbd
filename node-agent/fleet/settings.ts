// The fleet channel's settings, read from the node agent's environment.
import { FLEET_CA_DIR, FLEET_CA_KEY, FLEET_TOKEN_DIR, FLEET_TOKEN_KEY, NODE_AGENT_ENV } from '../../operator/api/node-agent-config.ts';
import { FLEET_DEFAULT_HEARTBEAT_SECONDS, FLEET_PATH } from '../../operator/api/fleet-protocol.ts';

export interface FleetClientSettings {
  /** wss://host:port/fleet/v1 */
  url: string;
  tokenFile: string;
  caFile: string;
  heartbeatSeconds: number;
}

/**
 * The channel's settings from the environment: FLEET_ENDPOINT (`host:port` or `wss://host:port[/path]`),
 * FLEET_TOKEN_FILE, FLEET_CA_FILE, FLEET_HEARTBEAT_SECONDS. `undefined` when FLEET_ENDPOINT is not set (no channel).
 */
export function readFleetClientSettings(env: Record<string, string | undefined>): { ok: true; settings: FleetClientSettings | undefined } | { ok: false; errors: string[] } {
  const endpoint = env[NODE_AGENT_ENV.fleetEndpoint]?.trim();
  if (!endpoint) return { ok: true, settings: undefined };
  const errors: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `wss://${endpoint}`);
    if (url.protocol !== 'wss:') errors.push(`${NODE_AGENT_ENV.fleetEndpoint}=${JSON.stringify(endpoint)} must be wss:// (the channel is always TLS)`);
    if (url.pathname === '/' || url.pathname === '') url.pathname = FLEET_PATH;
  } catch {
    errors.push(`${NODE_AGENT_ENV.fleetEndpoint}=${JSON.stringify(endpoint)} is not host:port or a wss:// URL`);
  }
  const rawHeartbeat = env.FLEET_HEARTBEAT_SECONDS;
  const heartbeatSeconds = rawHeartbeat ? Number(rawHeartbeat) : FLEET_DEFAULT_HEARTBEAT_SECONDS;
  if (!Number.isInteger(heartbeatSeconds) || heartbeatSeconds < 1 || heartbeatSeconds > 3600) {
    errors.push(`FLEET_HEARTBEAT_SECONDS=${JSON.stringify(rawHeartbeat)} must be a whole number from 1 to 3600`);
  }
  if (errors.length > 0 || !url) return { ok: false, errors };
  return {
    ok: true,
    settings: {
      url: url.toString(),
      tokenFile: env[NODE_AGENT_ENV.fleetTokenFile] || `${FLEET_TOKEN_DIR}/${FLEET_TOKEN_KEY}`,
      caFile: env[NODE_AGENT_ENV.fleetCaFile] || `${FLEET_CA_DIR}/${FLEET_CA_KEY}`,
      heartbeatSeconds,
    },
  };
}
