// Download the amazon-ssm-agent package (and its signature) and verify it BEFORE anyone installs it.
// Success: the package in a private temporary directory, with its SHA-256 and how it was verified; the caller
// installs it and then calls cleanup(). Failure: a reason and a message naming what failed and where (URL without
// credentials) — and nothing left on disk, so the caller has nothing it could install.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublicKey } from 'openpgp';
import { downloadToFile, type DownloadFailure, type DownloadOptions, type ProxySettings } from './download.ts';
import { resolveLatestVersion } from './latest-version.ts';
import { loadSigningKeys } from './signing-keys.ts';
import { ReasonedError } from '../../operator/lib/errors.ts';
import { packageUrls, PACKAGE_FILE_NAME, type PackageArch, type PackageFormat, type PackageUrls } from '../../operator/api/package-urls.ts';
import { normalizeSha256, sha256File, verifyDetachedSignature } from './verify.ts';

export type VerifyMode = 'Signature' | 'Checksum' | 'None';

export interface FetchPackageRequest {
  region: string;
  /** 'latest' or a 4-part version. */
  version: string;
  mirror?: string;
  /** The config's `endpoints.s3` (default `s3.{region}.{amazonaws.com|amazonaws.com.cn}`). */
  s3Host?: string;
  format: PackageFormat;
  arch: PackageArch;
  verify: VerifyMode;
  /** Expected SHA-256 (hex, optionally `sha256:`): required for Checksum; checked in every mode when given. */
  sha256?: string;
  proxy?: ProxySettings;
  /** Authorization header for the mirror (its Secret's basic credentials): the mirror's origin only, never logged. */
  authorization?: string;
  /** Where the private temporary directory is made (default: the OS temp dir). Must be visible to the installer. */
  workDir?: string;
  /** Trusted signing keys; default: loadSigningKeys(env) — SSM_AGENT_SIGNING_KEY_FILE or AWS's embedded keys. */
  signingKeys?: readonly PublicKey[];
  env?: NodeJS.ProcessEnv;
  /** Default 512 MiB (the agent's packages are about 30 MiB). */
  maxPackageBytes?: number;
  /** Per file. Default 15 minutes. */
  timeoutMs?: number;
  /** Default 30 s. */
  idleTimeoutMs?: number;
  ca?: DownloadOptions['ca'];
  signal?: AbortSignal;
  /** The time signatures are judged at (tests). */
  now?: Date;
}

export type FetchFailureReason =
  | 'InvalidRequest'
  | 'ChecksumMissing'
  | 'SigningKeyUnavailable'
  | 'NotFound'
  | 'DownloadFailed'
  | 'SignatureInvalid'
  | 'ChecksumMismatch'
  | 'FileSystem';

export interface FetchedPackage {
  ok: true;
  /** The verified package file. */
  path: string;
  /** The private directory holding it; cleanup() removes it. */
  dir: string;
  sha256: string;
  bytes: number;
  /** Where the package came from (without credentials). */
  url: string;
  /** The pinned version, or what `latest/VERSION` said (absent when it could not be read). */
  version?: string;
  verifiedBy: VerifyMode;
  signer?: { fingerprint: string; keyId: string; signedAt?: Date };
  /** Things the caller should surface: verify None, an unreadable latest/VERSION. */
  warnings: string[];
  cleanup(): Promise<void>;
}

/** Why no verified package: the reason, a message naming what failed and where, and the error beneath (`cause`). */
export class FetchFailure extends ReasonedError<FetchFailureReason> {
  readonly url: string | undefined;
  /** For NotFound/DownloadFailed: what the download itself reported (Timeout, Proxy, TooLarge, HttpError…). */
  readonly downloadReason: DownloadFailure['reason'] | undefined;
  constructor(reason: FetchFailureReason, message: string, details: { url?: string; downloadReason?: DownloadFailure['reason']; cause?: unknown } = {}) {
    super(reason, message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'FetchFailure';
    this.url = details.url;
    this.downloadReason = details.downloadReason;
  }
}

export type FetchPackageResult = FetchedPackage | FetchFailure;

const MAX_SIGNATURE_BYTES = 64 * 1024;

function describe(req: FetchPackageRequest): string {
  return `amazon-ssm-agent ${req.version} (${req.format}, ${req.arch})`;
}

function fromDownload(what: string, failure: DownloadFailure, hint = ''): FetchFailure {
  return new FetchFailure(
    failure.reason === 'NotFound' ? 'NotFound' : 'DownloadFailed',
    `${what}: ${failure.reason === 'NotFound' ? 'not found' : 'download failed'}: ${failure.message}${hint}`,
    { url: failure.url, downloadReason: failure.reason, cause: failure },
  );
}

export async function fetchVerifiedPackage(req: FetchPackageRequest): Promise<FetchPackageResult> {
  const what = describe(req);
  let expected: string | undefined;
  if (req.sha256 !== undefined && req.sha256.trim() !== '') {
    expected = normalizeSha256(req.sha256);
    if (!expected) return new FetchFailure('InvalidRequest', `${what}: sha256 must be 64 hexadecimal digits`);
  }
  if (req.verify === 'Checksum' && !expected) {
    return new FetchFailure('ChecksumMissing', `${what}: verify is Checksum but no sha256 is configured`);
  }
  let urls: PackageUrls;
  try {
    urls = packageUrls({
      region: req.region,
      version: req.version,
      format: req.format,
      arch: req.arch,
      ...(req.mirror ? { mirror: req.mirror } : {}),
      ...(req.s3Host ? { s3Host: req.s3Host } : {}),
    });
  } catch (err) {
    return new FetchFailure('InvalidRequest', `${what}: ${(err as Error).message}`, { cause: err });
  }

  // The keys come first: without them a 30 MiB download would be for nothing.
  let keys: readonly PublicKey[] = [];
  if (req.verify === 'Signature') {
    if (req.signingKeys) keys = req.signingKeys;
    else {
      const loaded = await loadSigningKeys(req.env ?? process.env);
      if (!loaded.ok) return new FetchFailure('SigningKeyUnavailable', `${what}: ${loaded.message}`, { cause: loaded });
      keys = loaded.keys.keys;
    }
  }

  const limits = {
    timeoutMs: req.timeoutMs ?? 15 * 60_000,
    idleTimeoutMs: req.idleTimeoutMs ?? 30_000,
    maxRedirects: 5,
    ...(req.proxy ? { proxy: req.proxy } : {}),
    ...(req.authorization && req.mirror ? { authorization: req.authorization } : {}),
    ...(req.ca ? { ca: req.ca } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  };

  let dir: string;
  try {
    const parent = req.workDir ?? tmpdir();
    await mkdir(parent, { recursive: true, mode: 0o700 });
    dir = await mkdtemp(join(parent, 'ssm-agent-package-'));
  } catch (err) {
    return new FetchFailure('FileSystem', `${what}: cannot make a temporary directory: ${(err as Error).message}`, { cause: err });
  }
  const discard = () => rm(dir, { recursive: true, force: true });

  try {
    const warnings: string[] = [];
    let version: string | undefined = req.version === 'latest' ? undefined : req.version.trim();
    if (req.version === 'latest') {
      const latest = await resolveLatestVersion({
        region: req.region,
        ...(req.mirror ? { mirror: req.mirror } : {}),
        ...(req.s3Host ? { s3Host: req.s3Host } : {}),
        ...(req.proxy ? { proxy: req.proxy } : {}),
        ...(req.authorization ? { authorization: req.authorization } : {}),
        ...(req.ca ? { ca: req.ca } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
        timeoutMs: Math.min(limits.timeoutMs, 60_000),
      });
      if (latest.ok) version = latest.version;
      else warnings.push(`the version behind "latest" is unknown: ${latest.message}`);
    }

    const pkgPath = join(dir, `${PACKAGE_FILE_NAME}.${req.format}`);
    const pkg = await downloadToFile(urls.package, pkgPath, { ...limits, maxBytes: req.maxPackageBytes ?? 512 * 1024 * 1024 });
    if (!pkg.ok) {
      await discard();
      return fromDownload(`${what}: the package`, pkg);
    }

    let signer: FetchedPackage['signer'];
    if (req.verify === 'Signature') {
      const sigPath = `${pkgPath}.sig`;
      const sig = await downloadToFile(urls.signature, sigPath, { ...limits, maxBytes: MAX_SIGNATURE_BYTES });
      if (!sig.ok) {
        await discard();
        const hint = sig.reason === 'NotFound' ? ' (a mirror must carry the .sig file next to each package, or use verify: Checksum with a sha256)' : '';
        return fromDownload(`${what}: the signature`, sig, hint);
      }
      const check = await verifyDetachedSignature(pkgPath, sigPath, keys, req.now ?? new Date());
      if (!check.ok) {
        await discard();
        return new FetchFailure('SignatureInvalid', `${what}: the signature does not verify, the package was discarded: ${check.message} (package ${pkg.url}, signature ${sig.url})`, { url: pkg.url, cause: check });
      }
      signer = { fingerprint: check.fingerprint, keyId: check.keyId, ...(check.signedAt ? { signedAt: check.signedAt } : {}) };
    }

    const sha256 = await sha256File(pkgPath);
    if (expected && sha256 !== expected) {
      await discard();
      return new FetchFailure('ChecksumMismatch', `${what}: SHA-256 mismatch, the package was discarded: expected ${expected}, got ${sha256} (${pkg.url})`, { url: pkg.url });
    }
    if (req.verify === 'None' && !expected) warnings.push(`${what} from ${pkg.url} was NOT verified (verify: None)`);

    return {
      ok: true,
      path: pkgPath,
      dir,
      sha256,
      bytes: pkg.bytes,
      url: pkg.url,
      ...(version ? { version } : {}),
      verifiedBy: req.verify === 'Signature' ? 'Signature' : expected ? 'Checksum' : 'None',
      ...(signer ? { signer } : {}),
      warnings,
      cleanup: discard,
    };
  } catch (err) {
    await discard();
    return new FetchFailure('FileSystem', `${what}: ${(err as Error).message}`, { cause: err });
  }
}
