// Renders /etc/amazon/ssm/amazon-ssm-agent.json. Pure. Keys the operator does not manage are kept as found, so a
// file baked into the node image keeps its other settings; default endpoints are left for the agent to derive.
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { defaultEndpoint, type EndpointName } from '../../operator/api/regions.ts';
import { CONTROL_CHARACTER } from '../../operator/api/proxy-url.ts';

type Json = { [key: string]: unknown };

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function renderAgentConfigFile(config: NodeAgentConfig, existing: string | undefined): string {
  let doc: Json = {};
  if (existing) {
    try {
      const parsed: unknown = JSON.parse(existing);
      if (isObject(parsed)) doc = parsed;
    } catch {
      // An unreadable file is replaced: the agent would ignore it anyway.
    }
  }
  const section = (name: string): Json => {
    const current = doc[name];
    const value: Json = isObject(current) ? { ...current } : {};
    doc[name] = value;
    return value;
  };
  const override = (service: EndpointName) => {
    const host = config.endpoints[service];
    return host === defaultEndpoint(service, config.region) ? '' : host;
  };
  section('Agent').SelfUpdate = config.agent.selfUpdate;
  section('Ssm').Endpoint = override('ssm');
  section('Mds').Endpoint = override('ec2messages');
  section('Mgs').Endpoint = override('ssmmessages');
  section('S3').Endpoint = override('s3');
  return `${JSON.stringify(doc, null, 4)}\n`;
}

/**
 * The proxy drop-in for the agent's unit (lowercase variables, as the agent reads them); undefined: no proxy.
 * Throws on a value with a control character, whatever validated it before: in a unit file a newline starts a new
 * directive (ExecStartPre=… runs as root), so such a value is never written, escaped or not.
 */
export function renderProxyDropIn(proxy: { httpsProxy?: string | undefined; httpProxy?: string | undefined; noProxy: string[] }): string | undefined {
  if (!proxy.httpsProxy && !proxy.httpProxy) return undefined;
  const values: [string, string | undefined][] = [['https_proxy', proxy.httpsProxy], ['http_proxy', proxy.httpProxy], ...proxy.noProxy.map((v): [string, string] => ['no_proxy', v])];
  for (const [name, value] of values) {
    if (value !== undefined && CONTROL_CHARACTER.test(value)) throw new Error(`refusing to write the proxy drop-in: a ${name} value contains a control character`);
  }
  const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`;
  const lines = ['# Written by ssm-agent-operator: the proxy of the SsmAgentConfig. Do not edit; it is rewritten.', '[Service]'];
  if (proxy.httpsProxy) lines.push(`Environment=${quote(`https_proxy=${proxy.httpsProxy}`)}`);
  if (proxy.httpProxy) lines.push(`Environment=${quote(`http_proxy=${proxy.httpProxy}`)}`);
  lines.push(`Environment=${quote(`no_proxy=${proxy.noProxy.join(',')}`)}`);
  return `${lines.join('\n')}\n`;
}
