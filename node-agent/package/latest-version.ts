// `latest` as the node agent looks it up (a fallback: the operator resolves it into the revision): the shared
// resolver over this process's own downloader (its proxy and no_proxy handling).
import { resolveLatestVersionWith, type LatestVersionRequest, type LatestVersionResult, type TextFetcher } from '../../operator/api/latest-version.ts';
import { fetchText } from './download.ts';

export type { LatestVersionRequest, LatestVersionResult } from '../../operator/api/latest-version.ts';

const downloader: TextFetcher = async (url, opts) => {
  const r = await fetchText(url, opts);
  return r.ok ? { ok: true, text: r.text, url: r.url } : r;
};

export function resolveLatestVersion(req: LatestVersionRequest): Promise<LatestVersionResult> {
  return resolveLatestVersionWith(downloader, req);
}
