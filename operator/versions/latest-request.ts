// Where a config's `latest` is read, and through which proxy: from the rendered configuration (the same bucket
// or mirror, s3 endpoint and proxy the node agents use). The proxy and mirror Secrets are read only when a lookup
// starts; their digests make a changed Secret a new source.
import type { LatestVersionRequest } from '../api/latest-version.ts';
import { basicAuthorization, insecureMirrorProblem, mirrorCredentials } from '../api/mirror-policy.ts';
import { proxyUrlProblem } from '../api/proxy-url.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import { renderNodeAgentConfig } from '../manifests/node-agent-config.ts';

export interface LatestSource {
  region: string;
  s3Host: string;
  mirror?: string;
  /** The mirror Secret (username, password) and its digest. */
  mirrorSecret?: { name: string; digest?: string };
  proxy: { httpsProxy?: string; httpProxy?: string; noProxy: string[]; secret?: string; secretDigest?: string };
}

export type ReadMirrorSecret = (name: string) => Promise<{ username?: string; password?: string }>;

/** `secretDigest`, `mirrorSecretDigest`: the Secrets' digests, so a changed Secret is looked up again at once. */
export function latestSource(config: SsmAgentConfig, secretDigest?: string, mirrorSecretDigest?: string): LatestSource {
  const rendered = renderNodeAgentConfig(config);
  const secret = config.spec.proxy?.secretRef?.name;
  const mirrorSecret = rendered.agent.mirrorSecretName;
  return {
    region: rendered.region,
    s3Host: rendered.endpoints.s3,
    ...(rendered.agent.mirror ? { mirror: rendered.agent.mirror } : {}),
    ...(mirrorSecret ? { mirrorSecret: { name: mirrorSecret, ...(mirrorSecretDigest ? { digest: mirrorSecretDigest } : {}) } } : {}),
    proxy: {
      ...(rendered.proxy.httpsProxy ? { httpsProxy: rendered.proxy.httpsProxy } : {}),
      ...(rendered.proxy.httpProxy ? { httpProxy: rendered.proxy.httpProxy } : {}),
      noProxy: rendered.proxy.noProxy,
      ...(secret ? { secret, ...(secretDigest ? { secretDigest } : {}) } : {}),
    },
  };
}

/** Throws (the lookup records it as its error) for a plain-http mirror or an unusable mirror Secret. */
export async function latestRequest(
  source: LatestSource,
  readProxySecret: (name: string) => Promise<{ httpsProxy?: string; httpProxy?: string }>,
  readMirrorSecret?: ReadMirrorSecret,
): Promise<LatestVersionRequest> {
  const insecure = insecureMirrorProblem({ version: 'latest', ...(source.mirror ? { mirror: source.mirror } : {}) });
  if (insecure) throw new Error(`spec.agent.source.mirror: ${insecure}`);
  let authorization: string | undefined;
  if (source.mirror && source.mirrorSecret) {
    if (!readMirrorSecret) throw new Error('the mirror Secret cannot be read here');
    const values = await readMirrorSecret(source.mirrorSecret.name);
    const creds = mirrorCredentials(values.username, values.password, source.mirrorSecret.name);
    if (!creds.ok) throw new Error(creds.message);
    authorization = basicAuthorization(creds.credentials);
  }
  const urls = source.proxy.secret ? await readProxySecret(source.proxy.secret) : source.proxy;
  // The API server never checked a Secret's values: the same check as the node agent's, before dialling through one.
  if (source.proxy.secret) {
    for (const key of ['httpsProxy', 'httpProxy'] as const) {
      const value = urls[key];
      const problem = value === undefined ? undefined : proxyUrlProblem(value, { allowCredentials: true });
      if (problem) throw new Error(`proxy Secret ${source.proxy.secret} key ${key} ${problem}`);
    }
  }
  return {
    region: source.region,
    s3Host: source.s3Host,
    ...(source.mirror ? { mirror: source.mirror } : {}),
    ...(authorization ? { authorization } : {}),
    proxy: { noProxy: source.proxy.noProxy, ...(urls.httpsProxy ? { httpsProxy: urls.httpsProxy } : {}), ...(urls.httpProxy ? { httpProxy: urls.httpProxy } : {}) },
  };
}
