// The proxy the node agent configures and uses: the inline URLs of its configuration, or the ones in the mounted
// proxy Secret. Secret values reach the host without the API server's validation, so they are checked here as
// strictly as the schema checks inline values (credentials allowed: that is what the Secret is for), and a bad or
// empty Secret is an error naming the key and the fix — never "no proxy", which would remove the drop-in.
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { proxyUrlProblem } from '../../operator/api/proxy-url.ts';

export interface EffectiveProxy {
  httpsProxy?: string;
  httpProxy?: string;
  noProxy: string[];
}

export type EffectiveProxyResult = { ok: true; proxy: EffectiveProxy } | { ok: false; reason: 'ProxySecretInvalid'; message: string };

export type ReadSecret = (dir: string, key: string) => Promise<string | undefined>;

const KEYS = ['httpsProxy', 'httpProxy'] as const;

export async function effectiveProxy(proxy: NodeAgentConfig['proxy'], readSecret: ReadSecret): Promise<EffectiveProxyResult> {
  if (!proxy.secretDir) {
    return { ok: true, proxy: { noProxy: proxy.noProxy, ...(proxy.httpsProxy ? { httpsProxy: proxy.httpsProxy } : {}), ...(proxy.httpProxy ? { httpProxy: proxy.httpProxy } : {}) } };
  }
  const secret = proxy.secretName ? `Secret ${proxy.secretName}` : 'the proxy Secret (spec.proxy.secretRef)';
  const out: EffectiveProxy = { noProxy: proxy.noProxy };
  for (const key of KEYS) {
    // Leading and trailing white space only (a file written with echo ends in a newline); anything inside stays
    // and is judged.
    const value = (await readSecret(proxy.secretDir, key))?.trim();
    if (value === undefined || value === '') continue;
    const problem = proxyUrlProblem(value, { allowCredentials: true });
    if (problem) {
      return {
        ok: false,
        reason: 'ProxySecretInvalid',
        message: `key ${key} of ${secret} ${problem}: set it to one proxy URL such as http://user:password@proxy.example.com:3128 (percent-encode special characters in the password); the proxy settings on the host are left as they were until then`,
      };
    }
    out[key] = value;
  }
  if (!out.httpsProxy && !out.httpProxy) {
    return {
      ok: false,
      reason: 'ProxySecretInvalid',
      message: `${secret} has neither an httpsProxy nor an httpProxy key with a value (missing Secret, or empty keys): create it in the operator's namespace with at least httpsProxy, or remove spec.proxy.secretRef; the proxy settings on the host are left as they were until then`,
    };
  }
  return { ok: true, proxy: out };
}
