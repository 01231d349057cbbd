// The operator's own AWS calls through an HTTP(S) proxy. The AWS SDK v3 ignores HTTPS_PROXY/NO_PROXY: its Node
// handler uses a plain https.Agent. Node 24's own agent speaks CONNECT to a proxy and honours NO_PROXY (exact host,
// domain suffix, `*`, IP, port) when given `proxyEnv`, so the SDK gets one of those; no extra dependency.
import type { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { proxyUrlProblem } from '../api/proxy-url.ts';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { Agent: HttpAgentClass } = process.getBuiltinModule('node:http');

/** The proxy of the operator's AWS calls, read from its environment (see readAwsProxy). */
export interface AwsProxy {
  /** for https:// endpoints (every AWS endpoint): HTTPS_PROXY, else https_proxy */
  httpsProxy?: string;
  /** for http:// endpoints (a test emulator, a plain-HTTP VPC proxy): HTTP_PROXY, else http_proxy */
  httpProxy?: string;
  /** NO_PROXY, else no_proxy: comma-separated hosts, .domains, IPs, `*` */
  noProxy?: string;
}

type Env = Record<string, string | undefined>;

const first = (env: Env, ...names: string[]): { name: string; value: string } | undefined => {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
};

/** Node's http(s).Agent takes `proxyEnv` from 24.5 on; older versions ignore the option without a word. */
export function nodeHasProxyAgent(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 24 || (major === 24 && minor >= 5);
}

/** The proxy settings in `env`, or errors naming the variable (never its value: it may carry a password). Pure. */
export function readAwsProxy(env: Env): { ok: true; proxy: AwsProxy } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const proxy: AwsProxy = {};
  for (const [key, names] of [
    ['httpsProxy', ['HTTPS_PROXY', 'https_proxy']],
    ['httpProxy', ['HTTP_PROXY', 'http_proxy']],
  ] as const) {
    const found = first(env, ...names);
    if (!found) continue;
    const problem = proxyUrlProblem(found.value, { allowCredentials: true });
    if (problem) errors.push(`${found.name} ${problem}`);
    else proxy[key] = found.value;
  }
  if ((proxy.httpsProxy || proxy.httpProxy) && !nodeHasProxyAgent(process.versions.node)) {
    errors.push(`a proxy is set but Node.js ${process.versions.node} ignores it (the proxy-aware agent needs Node 24.5 or later): the AWS calls would bypass it`);
  }
  const noProxy = first(env, 'NO_PROXY', 'no_proxy');
  if (noProxy) proxy.noProxy = noProxy.value;
  return errors.length > 0 ? { ok: false, errors } : { ok: true, proxy };
}

/** Agents for the SDK's request handler: through the proxy unless NO_PROXY matches, trusting `ca` (PEM) when given,
 * else Node's bundled CAs. Undefined when there is neither a proxy nor a CA: the SDK's own agents are fine then. */
export function awsAgents(proxy: AwsProxy, ca?: string): { httpsAgent: HttpsAgent; httpAgent: HttpAgent } | undefined {
  if (!proxy.httpsProxy && !proxy.httpProxy && ca === undefined) return undefined;
  const proxyEnv = {
    ...(proxy.httpsProxy ? { HTTPS_PROXY: proxy.httpsProxy } : {}),
    ...(proxy.httpProxy ? { HTTP_PROXY: proxy.httpProxy } : {}),
    ...(proxy.noProxy ? { NO_PROXY: proxy.noProxy } : {}),
  };
  return {
    httpsAgent: new HttpsAgent({ keepAlive: true, proxyEnv, ...(ca !== undefined ? { ca } : {}) }),
    httpAgent: new HttpAgentClass({ keepAlive: true, proxyEnv }),
  };
}
