// Which way one URL of a download goes: direct, or through the proxy for its scheme (https_proxy for https://,
// http_proxy for http://) unless no_proxy sends its host direct. Pure; decided again for every redirect hop.
import { bypassesProxy } from '../probes/no-proxy.ts';
import { parseProxyUrl, type ProxyServer } from '../probes/proxy-url.ts';
import { DownloadError } from './download-error.ts';

export interface ProxySettings {
  /** Proxy for https:// URLs (https_proxy). */
  httpsProxy?: string;
  /** Proxy for http:// URLs (http_proxy). */
  httpProxy?: string;
  /** Hosts that go direct (no_proxy), matched by node-agent/probes/no-proxy.ts. */
  noProxy: readonly string[];
}

export type Route = { via: 'direct' } | { via: 'proxy'; proxy: ProxyServer };

export function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

export function defaultPort(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

export function route(url: URL, proxy: ProxySettings | undefined): Route {
  const proxyUrl = url.protocol === 'https:' ? proxy?.httpsProxy : proxy?.httpProxy;
  if (!proxy || proxyUrl === undefined || proxyUrl.trim() === '') return { via: 'direct' };
  if (bypassesProxy(bareHost(url), defaultPort(url), proxy.noProxy)) return { via: 'direct' };
  const parsed = parseProxyUrl(proxyUrl);
  if (!parsed.ok) throw new DownloadError('Proxy', `the ${url.protocol === 'https:' ? 'https' : 'http'} proxy setting cannot be used: ${parsed.message}`, { cause: parsed });
  return { via: 'proxy', proxy: parsed.proxy };
}
