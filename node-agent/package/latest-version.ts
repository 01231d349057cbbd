// Which version `latest` is right now: the one-line text file `{bucket or mirror}/latest/VERSION` (see urls.ts).
import { fetchText, type DownloadFailureReason, type ProxySettings } from './download.ts';
import { packageUrls } from './urls.ts';
import { isVersion } from './version.ts';

export interface LatestVersionRequest {
  region: string;
  mirror?: string;
  s3Host?: string;
  proxy?: ProxySettings;
  /** Default 30 s. */
  timeoutMs?: number;
  ca?: string | Buffer | Array<string | Buffer>;
  signal?: AbortSignal;
}

export type LatestVersionResult =
  | { ok: true; version: string; url: string }
  | { ok: false; reason: DownloadFailureReason | 'InvalidRequest' | 'InvalidVersionFile'; message: string; url?: string };

/** Reads `latest/VERSION`; the answer must be one 4-part version number. */
export async function resolveLatestVersion(req: LatestVersionRequest): Promise<LatestVersionResult> {
  let url: string;
  try {
    // The version file does not depend on the platform; any format/arch gives the same URL.
    const urls = packageUrls({ region: req.region, version: 'latest', format: 'deb', arch: 'amd64', ...(req.mirror ? { mirror: req.mirror } : {}), ...(req.s3Host ? { s3Host: req.s3Host } : {}) });
    url = urls.versionFile as string;
  } catch (err) {
    return { ok: false, reason: 'InvalidRequest', message: (err as Error).message };
  }
  const got = await fetchText(url, {
    maxBytes: 256,
    timeoutMs: req.timeoutMs ?? 30_000,
    maxRedirects: 5,
    ...(req.proxy ? { proxy: req.proxy } : {}),
    ...(req.ca ? { ca: req.ca } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (!got.ok) return { ok: false, reason: got.reason, message: `cannot read the latest agent version: ${got.message}`, url: got.url };
  const version = got.text.trim();
  if (!isVersion(version)) {
    return { ok: false, reason: 'InvalidVersionFile', message: `${got.url} does not hold a 4-part version number: ${JSON.stringify(version.slice(0, 40))}`, url: got.url };
  }
  return { ok: true, version, url: got.url };
}
