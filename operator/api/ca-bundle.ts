// The one check of a CA bundle a user hands us (spec.agent.source.caBundle), for both processes: the operator's
// latest/VERSION lookup and the node agent's downloads. Pure. A bundle that is not what it claims to be is refused
// with a message naming where it came from, never trusted in part: a half-read bundle would fail later as a
// baffling TLS error on every node.
import { X509Certificate } from 'node:crypto';
import { ReasonedError, type Result } from '../lib/errors.ts';

/** A bundle larger than this is not a CA bundle (the whole Mozilla set is ~220 KiB). */
export const MAX_CA_BUNDLE_BYTES = 1024 * 1024;
const BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

export type CaBundleCheck = Result<{ pem: string[] }, 'MirrorCaInvalid'>;

const invalid = (message: string, cause?: unknown): ReasonedError<'MirrorCaInvalid'> => new ReasonedError('MirrorCaInvalid', message, cause !== undefined ? { cause } : undefined);

/** The certificates of a PEM bundle, each one parsed; `from` names the source for the message (ConfigMap and key). */
export function parseCaBundle(text: string | undefined, from: string): CaBundleCheck {
  const fix = 'put one or more PEM CA certificates (-----BEGIN CERTIFICATE-----) in it';
  if (text === undefined) return invalid(`the mirror CA bundle (${from}) does not exist or cannot be read: create it and ${fix}`);
  if (Buffer.byteLength(text, 'utf8') > MAX_CA_BUNDLE_BYTES) return invalid(`the mirror CA bundle (${from}) is larger than ${MAX_CA_BUNDLE_BYTES} bytes: ${fix}`);
  const blocks = text.match(BLOCK) ?? [];
  if (blocks.length === 0) return invalid(`the mirror CA bundle (${from}) holds no PEM certificate: ${fix}`);
  for (const [i, pem] of blocks.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      return invalid(`certificate ${i + 1} of the mirror CA bundle (${from}) does not parse (${(err as Error).message}): ${fix}`, err);
    }
  }
  return { ok: true, pem: blocks };
}
