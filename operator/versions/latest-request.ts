// Where a config's `latest` is read, and through which proxy: from the rendered configuration (the same bucket
// or mirror, s3 endpoint and proxy the node agents use). The proxy Secret's URLs are read only when a lookup starts.
import type { LatestVersionRequest } from '../api/latest-version.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import { renderNodeAgentConfig } from '../manifests/node-agent-config.ts';

export interface LatestSource {
  region: string;
  s3Host: string;
  mirror?: string;
  proxy: { httpsProxy?: string; httpProxy?: string; noProxy: string[]; secret?: string; secretDigest?: string };
}

/** `secretDigest`: the proxy Secret's digest, so a changed Secret is a new source (looked up again at once). */
export function latestSource(config: SsmAgentConfig, secretDigest?: string): LatestSource {
  const rendered = renderNodeAgentConfig(config);
  const secret = config.spec.proxy?.secretRef?.name;
  return {
    region: rendered.region,
    s3Host: rendered.endpoints.s3,
    ...(rendered.agent.mirror ? { mirror: rendered.agent.mirror } : {}),
    proxy: {
      ...(rendered.proxy.httpsProxy ? { httpsProxy: rendered.proxy.httpsProxy } : {}),
      ...(rendered.proxy.httpProxy ? { httpProxy: rendered.proxy.httpProxy } : {}),
      noProxy: rendered.proxy.noProxy,
      ...(secret ? { secret, ...(secretDigest ? { secretDigest } : {}) } : {}),
    },
  };
}

export async function latestRequest(source: LatestSource, readProxySecret: (name: string) => Promise<{ httpsProxy?: string; httpProxy?: string }>): Promise<LatestVersionRequest> {
  const urls = source.proxy.secret ? await readProxySecret(source.proxy.secret) : source.proxy;
  return {
    region: source.region,
    s3Host: source.s3Host,
    ...(source.mirror ? { mirror: source.mirror } : {}),
    proxy: { noProxy: source.proxy.noProxy, ...(urls.httpsProxy ? { httpsProxy: urls.httpsProxy } : {}), ...(urls.httpProxy ? { httpProxy: urls.httpProxy } : {}) },
  };
}
