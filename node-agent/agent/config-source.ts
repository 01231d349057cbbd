// The configuration rendered by the operator, read from the mounted revision ConfigMap. The ConfigMap is
// immutable and named by its content hash: this pod applies only its own revision, and a new revision arrives
// as a new pod through the DaemonSet's rolling update, never as a file changing under a running agent.
import { readFile } from 'node:fs/promises';
import { parseNodeAgentConfig, type NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { ReasonedError, type Result } from '../../operator/lib/errors.ts';

/** The configuration, or why there is none (ConfigInvalid: the readiness reason and the configValid metric). */
export type ConfigRead = Result<{ config: NodeAgentConfig; text: string }, 'ConfigInvalid'>;

export async function readConfigFile(path: string): Promise<ConfigRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return new ReasonedError('ConfigInvalid', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = parseNodeAgentConfig(text);
  return parsed.ok ? { ok: true, config: parsed.config, text } : new ReasonedError('ConfigInvalid', `${path} is invalid: ${parsed.message}`, { cause: parsed });
}
