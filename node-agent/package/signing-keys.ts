// Which OpenPGP public keys may sign the agent package: AWS's (aws-signing-keys.ts), or — when the environment
// variable SSM_AGENT_SIGNING_KEY_FILE names a file — exactly the keys in that file (armored or binary, one or more
// keys). The file replaces the embedded keys rather than adding to them: a mirror that re-signs packages trusts its
// own key only; to follow an AWS key rotation before this image knows the new key, put AWS's current keys in it.
import { readFile } from 'node:fs/promises';
import type { PublicKey } from 'openpgp';
import { NODE_AGENT_ENV } from '../../operator/api/node-agent-config.ts';
import { AWS_SSM_AGENT_SIGNING_KEYS } from './aws-signing-keys.ts';
import { ReasonedError } from '../../operator/lib/errors.ts';

export const SIGNING_KEY_FILE_ENV = NODE_AGENT_ENV.signingKeyFile;
const MAX_KEY_FILE_BYTES = 1024 * 1024;

export interface SigningKeys {
  keys: PublicKey[];
  /** "embedded AWS keys" or the file's path. */
  source: string;
  /** Primary key fingerprints, upper-case hex. */
  fingerprints: string[];
}

export type LoadedKeys = { ok: true; keys: SigningKeys } | ReasonedError<'SigningKeyUnavailable'>;

const unavailable = (message: string, cause?: unknown): ReasonedError<'SigningKeyUnavailable'> => new ReasonedError('SigningKeyUnavailable', message, cause !== undefined ? { cause } : undefined);

const ARMORED_BLOCK = /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g;

/** Parses every public key in armored text (several armored blocks allowed) or binary data. Throws when none. */
export async function parsePublicKeys(data: Uint8Array | string): Promise<PublicKey[]> {
  const { readKeys } = await import('openpgp'); // on first use: a converged host never needs OpenPGP.js
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  const blocks = text.match(ARMORED_BLOCK);
  let keys: PublicKey[] = [];
  if (blocks) {
    if (blocks.some((b) => b.startsWith('-----BEGIN PGP PRIVATE'))) throw new Error('the key file holds a private key: give the public key only');
    for (const armoredKey of blocks) {
      // One armored block may carry several keys.
      const parsed = await readKeys({ armoredKeys: armoredKey });
      keys.push(...parsed.map((k) => (k.isPrivate() ? k.toPublic() : k)));
    }
  } else if (typeof data !== 'string') {
    const parsed = await readKeys({ binaryKeys: data });
    if (parsed.some((k) => k.isPrivate())) throw new Error('the key file holds a private key: give the public key only');
    keys = parsed.map((k) => k.toPublic());
  }
  if (keys.length === 0) throw new Error('no OpenPGP public key found');
  return keys;
}

let embedded: Promise<SigningKeys> | undefined;

/** AWS's keys, parsed once. */
export function embeddedSigningKeys(): Promise<SigningKeys> {
  embedded ??= (async () => {
    const { readKey } = await import('openpgp');
    const keys: PublicKey[] = [];
    for (const k of AWS_SSM_AGENT_SIGNING_KEYS) {
      const key = await readKey({ armoredKey: k.armored });
      if (key.getFingerprint().toUpperCase() !== k.fingerprint) throw new Error(`embedded key ${k.name}: fingerprint mismatch`);
      keys.push(key);
    }
    return { keys, source: 'embedded AWS keys', fingerprints: keys.map((k) => k.getFingerprint().toUpperCase()) };
  })();
  return embedded;
}

/** The keys in force: the file named by SSM_AGENT_SIGNING_KEY_FILE when set, else AWS's embedded keys. */
export async function loadSigningKeys(env: NodeJS.ProcessEnv = process.env): Promise<LoadedKeys> {
  const file = env[SIGNING_KEY_FILE_ENV]?.trim();
  if (!file) {
    try {
      return { ok: true, keys: await embeddedSigningKeys() };
    } catch (err) {
      return unavailable(`the embedded AWS signing keys cannot be read: ${(err as Error).message}`, err);
    }
  }
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    return unavailable(`${SIGNING_KEY_FILE_ENV}=${file}: cannot read the key file: ${(err as Error).message}`, err);
  }
  if (data.length > MAX_KEY_FILE_BYTES) return unavailable(`${SIGNING_KEY_FILE_ENV}=${file}: larger than ${MAX_KEY_FILE_BYTES} bytes`);
  try {
    const keys = await parsePublicKeys(new Uint8Array(data));
    return { ok: true, keys: { keys, source: file, fingerprints: keys.map((k) => k.getFingerprint().toUpperCase()) } };
  } catch (err) {
    return unavailable(`${SIGNING_KEY_FILE_ENV}=${file}: ${(err as Error).message}`, err);
  }
}
