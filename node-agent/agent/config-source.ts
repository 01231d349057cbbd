// The configuration rendered by the operator, read from the mounted ConfigMap file. A change is noticed without
// a restart (ConfigMap volumes swap a symlink in the directory, so the directory is watched); an invalid file
// keeps the last good configuration.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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

/** Calls `onChange` (debounced) when anything in the file's directory changes. */
export function watchConfigDir(path: string, onChange: () => void, debounceMs = 500): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dirname(path), { persistent: false }, () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  watcher.on('error', () => undefined);
  return watcher;
}
