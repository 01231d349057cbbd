// Which version `latest` is right now: the one-line file `{bucket or mirror}/latest/VERSION` (package-urls.ts).
// Shared: the operator resolves `latest` once for the fleet; the node agent only as a fallback. The HTTP client is
// a port, so each process brings its own (its proxy handling, its limits).
import { isVersion } from './agent-version.ts';
import { packageUrls } from './package-urls.ts';
import { ReasonedError, type Result } from '../lib/errors.ts';

export interface ProxyUrls {
  httpsProxy?: string;
  httpProxy?: string;
  noProxy: readonly string[];
}

export interface LatestVersionRequest {
  region: string;
  mirror?: string;
  s3Host?: string;
  proxy?: ProxyUrls;
  /** Authorization header for the mirror's origin (its Secret's basic credentials); never logged. */
  authorization?: string;
  /** Default 30 s. */
  timeoutMs?: number;
  ca?: string | Buffer | Array<string | Buffer>;
  signal?: AbortSignal;
}

/** Reads a small text file; a failure carries a reason and a message without credentials. */
export type TextFetcher = (
  url: string,
  opts: { maxBytes: number; timeoutMs: number; maxRedirects: number; proxy?: ProxyUrls; authorization?: string; ca?: LatestVersionRequest['ca']; signal?: AbortSignal },
) => Promise<{ ok: true; text: string; url: string } | { ok: false; reason: string; message: string; url?: string }>;

/** Why `latest` could not be read: the fetch's own reason (NotFound, Timeout, Proxy…), InvalidRequest or
 * InvalidVersionFile; the URL without credentials; the fetch's failure as the cause. */
export class LatestVersionFailure extends ReasonedError {
  readonly url: string | undefined;
  constructor(reason: string, message: string, details: { url?: string | undefined; cause?: unknown } = {}) {
    super(reason, message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'LatestVersionFailure';
    this.url = details.url;
  }
}

export type LatestVersionResult = Result<{ version: string; url: string }, string, LatestVersionFailure>;

/** The URL of `latest/VERSION` (it does not depend on the platform). */
export function latestVersionUrl(req: Pick<LatestVersionRequest, 'region' | 'mirror' | 's3Host'>): string {
  const urls = packageUrls({ region: req.region, version: 'latest', format: 'deb', arch: 'amd64', ...(req.mirror ? { mirror: req.mirror } : {}), ...(req.s3Host ? { s3Host: req.s3Host } : {}) });
  return urls.versionFile as string;
}

/** Reads `latest/VERSION`; the answer must be one 4-part version number. */
export async function resolveLatestVersionWith(fetchText: TextFetcher, req: LatestVersionRequest): Promise<LatestVersionResult> {
  let url: string;
  try {
    url = latestVersionUrl(req);
  } catch (err) {
    return new LatestVersionFailure('InvalidRequest', (err as Error).message, { cause: err });
  }
  const got = await fetchText(url, {
    maxBytes: 256,
    timeoutMs: req.timeoutMs ?? 30_000,
    maxRedirects: 5,
    ...(req.proxy ? { proxy: req.proxy } : {}),
    ...(req.authorization && req.mirror ? { authorization: req.authorization } : {}),
    ...(req.ca ? { ca: req.ca } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (!got.ok) return new LatestVersionFailure(got.reason, `cannot read the latest agent version: ${got.message}`, { url: got.url, cause: got });
  const version = got.text.trim();
  if (!isVersion(version)) {
    return new LatestVersionFailure('InvalidVersionFile', `${got.url} does not hold a 4-part version number: ${JSON.stringify(version.slice(0, 40))}`, { url: got.url });
  }
  return { ok: true, version, url: got.url };
}
