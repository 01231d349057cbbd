// Where a config's `latest` is read, and through which proxy: from the rendered configuration (the same bucket
// or mirror, s3 endpoint and proxy the node agents use). The proxy and mirror Secrets are read only when a lookup
// starts; their digests make a changed Secret a new source.
import type { LatestVersionRequest } from '../api/latest-version.ts';
import { basicAuthorization, insecureMirrorProblem, mirrorCredentials } from '../api/mirror-policy.ts';
import { parseCaBundle } from '../api/ca-bundle.ts';
import { proxyUrlProblem } from '../api/proxy-url.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import { renderNodeAgentConfig } from '../manifests/node-agent-config.ts';

export interface LatestSource {
  region: string;
  s3Host: string;
  mirror?: string;
  /** The mirror Secret (username, password) and its digest. */
  mirrorSecret?: { name: string; digest?: string };
  /** The mirror's CA bundle (spec.agent.source.caBundle) and its ConfigMap's digest. */
  caBundle?: { configMap: string; key: string; digest?: string };
  proxy: { httpsProxy?: string; httpProxy?: string; noProxy: string[]; secret?: string; secretDigest?: string };
}

export type ReadMirrorSecret = (name: string) => Promise<{ username?: string; password?: string }>;
/** One key of a ConfigMap in the operator's namespace; undefined when the ConfigMap or the key is missing. */
export type ReadConfigMapKey = (name: string, key: string) => Promise<string | undefined>;

/** `secretDigest`, `mirrorSecretDigest`: the Secrets' digests, so a changed Secret is looked up again at once. */
export function latestSource(config: SsmAgentConfig, secretDigest?: string, mirrorSecretDigest?: string, caBundleDigest?: string): LatestSource {
  const rendered = renderNodeAgentConfig(config);
  const ca = rendered.agent.mirror ? config.spec.agent.source?.caBundle : undefined;
  const secret = config.spec.proxy?.secretRef?.name;
  const mirrorSecret = rendered.agent.mirrorSecretName;
  return {
    region: rendered.region,
    s3Host: rendered.endpoints.s3,
    ...(rendered.agent.mirror ? { mirror: rendered.agent.mirror } : {}),
    ...(mirrorSecret ? { mirrorSecret: { name: mirrorSecret, ...(mirrorSecretDigest ? { digest: mirrorSecretDigest } : {}) } } : {}),
    ...(ca ? { caBundle: { configMap: ca.configMap, key: ca.key, ...(caBundleDigest ? { digest: caBundleDigest } : {}) } } : {}),
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
  readConfigMapKey?: ReadConfigMapKey,
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
  let ca: string[] | undefined;
  if (source.mirror && source.caBundle) {
    if (!readConfigMapKey) throw new Error('the mirror CA bundle cannot be read here');
    const { configMap, key } = source.caBundle;
    const bundle = parseCaBundle(await readConfigMapKey(configMap, key), `ConfigMap ${configMap}, key ${key}`);
    if (!bundle.ok) throw new Error(`spec.agent.source.caBundle: ${bundle.message}`);
    ca = bundle.pem;
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
    ...(ca ? { ca } : {}),
    proxy: { noProxy: source.proxy.noProxy, ...(urls.httpsProxy ? { httpsProxy: urls.httpsProxy } : {}), ...(urls.httpProxy ? { httpProxy: urls.httpProxy } : {}) },
  };
}
