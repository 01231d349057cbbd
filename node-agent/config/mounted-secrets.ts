// The I/O edge of effective.ts: reads the keys of the Secrets a revision names from their mounted files, once per
// pass (and the mirror's CA bundle, mounted from its ConfigMap), and resolves the effective configuration from them.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { effectiveConfig, type EffectiveConfig, type SecretValues } from './effective.ts';

/** Reads one key of a mounted Secret; undefined when it is absent. */
export type ReadSecret = (dir: string, key: string) => Promise<string | undefined>;

export const readSecretFile: ReadSecret = (dir, key) => readFile(join(dir, key), 'utf8').catch(() => undefined);

/** The keys of the Secrets this configuration uses (a Secret it does not use is not read). */
export async function readMountedSecrets(config: NodeAgentConfig, read: ReadSecret = readSecretFile): Promise<SecretValues> {
  const { secretDir } = config.proxy;
  const { mirror, mirrorSecretDir, mirrorCaFile } = config.agent;
  const { activationDir } = config.registration;
  return {
    ...(secretDir ? { proxy: { httpsProxy: await read(secretDir, 'httpsProxy'), httpProxy: await read(secretDir, 'httpProxy') } } : {}),
    ...(mirror && mirrorSecretDir ? { mirror: { username: await read(mirrorSecretDir, 'username'), password: await read(mirrorSecretDir, 'password') } } : {}),
    ...(mirror && mirrorCaFile ? { mirrorCa: await read(dirname(mirrorCaFile), basename(mirrorCaFile)) } : {}),
    ...(activationDir ? { activation: { activationId: await read(activationDir, 'activationId'), activationCode: await read(activationDir, 'activationCode') } } : {}),
  };
}

export async function resolveEffectiveConfig(config: NodeAgentConfig, read: ReadSecret = readSecretFile): Promise<EffectiveConfig> {
  return effectiveConfig(config, await readMountedSecrets(config, read));
}
