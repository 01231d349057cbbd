// The configuration rendered by the operator, read from the mounted revision ConfigMap. The ConfigMap is
// immutable and named by its content hash: this pod applies only its own revision, and a new revision arrives
// as a new pod through the DaemonSet's rolling update, never as a file changing under a running agent.
import { readFile } from 'node:fs/promises';
import { parseNodeAgentConfig, type NodeAgentConfig } from '../../operator/api/node-agent-config.ts';

export type ConfigRead = { ok: true; config: NodeAgentConfig; text: string } | { ok: false; error: string };

export async function readConfigFile(path: string): Promise<ConfigRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, error: `cannot read ${path}: ${(err as Error).message}` };
  }
  const parsed = parseNodeAgentConfig(text);
  return parsed.ok ? { ok: true, config: parsed.config, text } : { ok: false, error: `${path} is invalid: ${parsed.error}` };
}
