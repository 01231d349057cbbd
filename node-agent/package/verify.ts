// Checking a downloaded package before anything installs it: its SHA-256, and its detached OpenPGP signature.
//
// Signatures are checked in-process with OpenPGP.js (npm `openpgp`, pinned), not with a gpg/gpgv binary:
// - a signature counts only when it verifies against one of the trusted keys AND that key was valid (not expired,
//   not revoked) at the signature's creation time, and the signature is not dated in the future. A package signed
//   in 2025 with AWS's 2025 key keeps verifying after that key expired (pinned older versions), while a signature
//   made with a key after its expiry fails. gpgv cannot express this: it reports a good signature from an expired
//   key the same way whenever the signature was made (EXPKEYSIG), so a gpgv-based check would have to either refuse
//   every pinned version older than the current key or trust signatures from expired keys unconditionally;
// - no temporary keyring or GNUPGHOME, no child process, no parsing of status-fd text; the result is structured
//   (which key, when signed) and works in any image;
// - the data is streamed (the package is never held in memory whole);
// - OpenPGP.js is loaded on the first verification, not at start: a node agent on a converged host never needs it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import type { PublicKey, Signature } from 'openpgp';
import { ReasonedError } from '../../operator/lib/errors.ts';

const MAX_SIGNATURE_BYTES = 64 * 1024;

/** SHA-256 of a file, lower-case hex, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Normalizes a configured checksum: 64 hex digits, optionally prefixed `sha256:`, case-insensitive. */
export function normalizeSha256(text: string): string | undefined {
  const s = text.trim().toLowerCase().replace(/^sha256:/, '');
  return /^[0-9a-f]{64}$/.test(s) ? s : undefined;
}

export type SignatureCheck =
  | { ok: true; fingerprint: string; keyId: string; signedAt?: Date }
  | ReasonedError<'SignatureInvalid'>;

const invalid = (message: string, cause?: unknown): ReasonedError<'SignatureInvalid'> => new ReasonedError('SignatureInvalid', message, cause !== undefined ? { cause } : undefined);

async function readDetachedSignature(path: string): Promise<Signature> {
  const { readSignature } = await import('openpgp');
  const data = await readFile(path);
  if (data.length > MAX_SIGNATURE_BYTES) throw new Error(`the signature file is larger than ${MAX_SIGNATURE_BYTES} bytes`);
  if (data.length === 0) throw new Error('the signature file is empty');
  const text = data.toString('latin1');
  // AWS publishes binary signatures (`gpg --detach-sign`); an armored one (`--armor`) is accepted as well.
  if (text.includes('-----BEGIN PGP SIGNATURE-----')) return readSignature({ armoredSignature: data.toString('utf8') });
  return readSignature({ binarySignature: new Uint8Array(data) });
}

/**
 * Verifies a detached signature over the file at dataPath. ok only when at least one signature in the file was
 * made by one of `keys` over exactly these bytes, while that key was valid.
 */
export async function verifyDetachedSignature(dataPath: string, signaturePath: string, keys: readonly PublicKey[], now: Date = new Date()): Promise<SignatureCheck> {
  if (keys.length === 0) return invalid('no trusted signing key');
  let signature: Signature;
  try {
    signature = await readDetachedSignature(signaturePath);
  } catch (err) {
    return invalid(`unreadable signature: ${(err as Error).message}`, err);
  }
  const issuers = signature.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());
  const trusted = keys.filter((k) => issuers.some((id) => k.getKeys().some((sub) => sub.getKeyID().toHex().toUpperCase() === id)));
  if (trusted.length === 0) {
    const known = keys.map((k) => k.getKeyID().toHex().toUpperCase()).join(', ');
    return invalid(`signed by key ${issuers.join(', ') || '(no issuer)'}, which is not a trusted signing key (trusted: ${known})`);
  }
  try {
    const { createMessage, verify } = await import('openpgp');
    const stream = Readable.toWeb(createReadStream(dataPath)) as NodeWebStream<Uint8Array>;
    const message = await createMessage({ binary: stream as unknown as ReadableStream<Uint8Array> });
    const result = await verify({ message, signature, verificationKeys: trusted, format: 'binary', date: now });
    // With streamed input the signatures settle only after the data has been read to the end.
    const reader = (result.data as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    const failures: string[] = [];
    const causes: unknown[] = [];
    for (const s of result.signatures) {
      try {
        await s.verified;
        const keyId = s.keyID.toHex().toUpperCase();
        const key = trusted.find((k) => k.getKeys().some((sub) => sub.getKeyID().toHex().toUpperCase() === keyId));
        const packet = (await s.signature).packets[0];
        return {
          ok: true,
          keyId,
          fingerprint: key?.getFingerprint().toUpperCase() ?? keyId,
          ...(packet?.created ? { signedAt: packet.created } : {}),
        };
      } catch (err) {
        failures.push(`key ${s.keyID.toHex().toUpperCase()}: ${(err as Error).message}`);
        causes.push(err);
      }
    }
    return invalid(failures.length > 0 ? failures.join('; ') : 'no signature in the signature file', causes.length === 1 ? causes[0] : causes.length > 1 ? new AggregateError(causes) : undefined);
  } catch (err) {
    return invalid((err as Error).message, err);
  }
}
