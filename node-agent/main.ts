// The node-agent process (one per node, in the privileged DaemonSet).
//
// NOT FINISHED: the host steps (detect, install, configure, ssm-user, register, observe, uninstall) are the
// node-agent issue and are not built yet. What runs today is only the shell around them: it reads and validates
// the configuration the operator renders, follows changes to it, and serves /healthz and /metrics.
import { readFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import { dirname } from 'node:path';
import { createServer } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { NODE_AGENT_CONFIG_DIR, NODE_AGENT_CONFIG_FILE, NODE_AGENT_METRICS_PORT, parseNodeAgentConfig } from '../operator/api/node-agent-config.ts';
import { createLogger } from '../operator/observability/logger.ts';

const log = createLogger('ssm-node-agent');
const configFile = process.env.CONFIG_FILE ?? `${NODE_AGENT_CONFIG_DIR}/${NODE_AGENT_CONFIG_FILE}`;
const registry = new Registry();
const configValid = new Gauge({ name: 'ssm_node_agent_config_valid', help: '1 when the rendered configuration was read and is valid.', registers: [registry] });

async function loadConfig(): Promise<void> {
  const text = await readFile(configFile, 'utf8').catch((err: Error) => {
    log.error({ file: configFile, err: err.message }, 'cannot read the node-agent configuration');
    return undefined;
  });
  if (text === undefined) return configValid.set(0);
  const parsed = parseNodeAgentConfig(text);
  if (!parsed.ok) {
    log.error({ file: configFile, err: parsed.error }, 'invalid node-agent configuration');
    return configValid.set(0);
  }
  configValid.set(1);
  log.warn({ config: parsed.config.configName, node: process.env.NODE_NAME }, 'configuration loaded; host steps are not implemented in this version');
}

await loadConfig();
// ConfigMap volumes update by swapping a symlink in the directory: watch the directory, not the file.
watch(dirname(configFile), { persistent: false }, () => void loadConfig()).on('error', () => undefined);

const server = createServer((req, res) => {
  if (req.url === '/healthz') res.writeHead(200).end('ok\n');
  else if (req.url === '/metrics') registry.metrics().then((t) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(t));
  else res.writeHead(404).end();
});
server.listen(Number(process.env.METRICS_PORT ?? NODE_AGENT_METRICS_PORT));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
