// The node agent's configuration as one pass uses it: the revision's configuration with every Secret-backed value
// (the proxy, the mirror's credentials, the activation) resolved once, from the Secret files read at the start of
// the pass. The steps, the downloads and the probes all read this, so they cannot disagree on which proxy wins.
// Pure: the files are read by mounted-secrets.ts.
//
// Secret values reach the host without the API server's validation, so they are checked here as strictly as the
// schema checks inline values (credentials allowed: that is what the Secrets are for), and a bad or empty Secret is
// an error naming the key and the fix — never "no proxy", which would remove the drop-in.
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import { basicAuthorization, mirrorCredentials } from '../../operator/api/mirror-policy.ts';
import { proxyUrlProblem } from '../../operator/api/proxy-url.ts';
import { parseCaBundle } from '../../operator/api/ca-bundle.ts';
import { redactUrl } from '../../operator/api/redact-url.ts';
import { ReasonedError, type Result } from '../../operator/lib/errors.ts';

export interface EffectiveProxy {
  httpsProxy?: string;
  httpProxy?: string;
  noProxy: string[];
}

// Each value is resolved once per pass and read later by whichever step needs it: a failure is data until then
// (Result), and the step that needs the value throws it as its own StepError.
export type EffectiveProxyResult = Result<{ proxy: EffectiveProxy }, 'ProxySecretInvalid'>;
/** The mirror's Authorization header (absent without a mirror Secret; never log it) and the CA bundle trusted for it
 * (absent without spec.agent.source.caBundle). */
export type MirrorAccessResult = Result<{ authorization?: string; ca?: string[] }, 'MirrorSecretInvalid' | 'MirrorCaInvalid'>;
/** The activation for -register. Never log it. */
export type ActivationResult = Result<{ id: string; code: string }, 'ActivationMissing'>;

/** The keys of the mounted Secrets as their files say them (undefined: no such file, or that Secret is not used). */
export interface SecretValues {
  proxy?: { httpsProxy?: string | undefined; httpProxy?: string | undefined };
  mirror?: { username?: string | undefined; password?: string | undefined };
  /** The mounted mirror CA bundle's text (a ConfigMap: public, but user input all the same). */
  mirrorCa?: string | undefined;
  activation?: { activationId?: string | undefined; activationCode?: string | undefined };
}

export interface EffectiveConfig {
  /** The revision's configuration, as the operator rendered it. */
  config: NodeAgentConfig;
  /** https_proxy / http_proxy / no_proxy for the agent's drop-in, -register, the downloads and the probes. */
  proxy: EffectiveProxyResult;
  mirror: MirrorAccessResult;
  activation: ActivationResult;
}

const PROXY_KEYS = ['httpsProxy', 'httpProxy'] as const;

/** The proxy: the inline URLs of the configuration, or — when it names a proxy Secret — only the Secret's. */
export function effectiveProxy(proxy: NodeAgentConfig['proxy'], secret: SecretValues['proxy']): EffectiveProxyResult {
  if (!proxy.secretDir) {
    return { ok: true, proxy: { noProxy: proxy.noProxy, ...(proxy.httpsProxy ? { httpsProxy: proxy.httpsProxy } : {}), ...(proxy.httpProxy ? { httpProxy: proxy.httpProxy } : {}) } };
  }
  const name = proxy.secretName ? `Secret ${proxy.secretName}` : 'the proxy Secret (spec.proxy.secretRef)';
  const out: EffectiveProxy = { noProxy: proxy.noProxy };
  for (const key of PROXY_KEYS) {
    // Leading and trailing white space only (a file written with echo ends in a newline); anything inside stays
    // and is judged.
    const value = secret?.[key]?.trim();
    if (value === undefined || value === '') continue;
    const problem = proxyUrlProblem(value, { allowCredentials: true });
    if (problem) {
      return new ReasonedError(
        'ProxySecretInvalid',
        `key ${key} of ${name} ${problem}: set it to one proxy URL such as http://user:password@proxy.example.com:3128 (percent-encode special characters in the password); the proxy settings on the host are left as they were until then`,
      );
    }
    out[key] = value;
  }
  if (!out.httpsProxy && !out.httpProxy) {
    return new ReasonedError(
      'ProxySecretInvalid',
      `${name} has neither an httpsProxy nor an httpProxy key with a value (missing Secret, or empty keys): create it in the operator's namespace with at least httpsProxy, or remove spec.proxy.secretRef; the proxy settings on the host are left as they were until then`,
    );
  }
  return { ok: true, proxy: out };
}

/** The CA bundle trusted for the mirror (only with a mirror and spec.agent.source.caBundle), and Basic credentials
 * for the mirror's origin from the mirror Secret (only with a mirror and a mirror Secret). */
export function effectiveMirrorAccess(agent: NodeAgentConfig['agent'], secret: SecretValues['mirror'], caText?: string): MirrorAccessResult {
  if (!agent.mirror) return { ok: true };
  let ca: string[] | undefined;
  if (agent.mirrorCaFile) {
    const bundle = parseCaBundle(caText, agent.mirrorCaName ?? 'spec.agent.source.caBundle');
    if (!bundle.ok) return new ReasonedError('MirrorCaInvalid', `spec.agent.source.caBundle: ${bundle.message}`, { cause: bundle });
    ca = bundle.pem;
  }
  if (!agent.mirrorSecretDir) return { ok: true, ...(ca ? { ca } : {}) };
  const creds = mirrorCredentials(secret?.username, secret?.password, agent.mirrorSecretName ?? 'of spec.agent.source.mirrorSecretRef');
  if (!creds.ok) return creds;
  return { ok: true, authorization: basicAuthorization(creds.credentials), ...(ca ? { ca } : {}) };
}

export function effectiveActivation(registration: NodeAgentConfig['registration'], secret: SecretValues['activation']): ActivationResult {
  const id = registration.activationDir ? secret?.activationId?.trim() : undefined;
  const code = registration.activationDir ? secret?.activationCode?.trim() : undefined;
  if (!id || !code) return new ReasonedError('ActivationMissing', 'no activation: the activation Secret is not mounted or lacks activationId and activationCode');
  return { ok: true, id, code };
}

const REDACTED = '[REDACTED]';

/** What printing the effective configuration shows: everything but its secrets (proxy URLs without their
 * user:password, no Authorization header, no activation code). */
function redacted(e: EffectiveConfig): unknown {
  const proxy = e.proxy.ok
    ? {
        ok: true,
        proxy: {
          ...e.proxy.proxy,
          ...(e.proxy.proxy.httpsProxy ? { httpsProxy: redactUrl(e.proxy.proxy.httpsProxy) } : {}),
          ...(e.proxy.proxy.httpProxy ? { httpProxy: redactUrl(e.proxy.proxy.httpProxy) } : {}),
        },
      }
    : { ok: false, reason: e.proxy.reason, message: e.proxy.message };
  const mirror = e.mirror.ok ? { ...e.mirror, ...(e.mirror.authorization ? { authorization: REDACTED } : {}) } : { ok: false, reason: e.mirror.reason, message: e.mirror.message };
  const activation = e.activation.ok ? { ok: true, id: e.activation.id, code: REDACTED } : { ok: false, reason: e.activation.reason, message: e.activation.message };
  return { config: e.config, proxy, mirror, activation };
}

export function effectiveConfig(config: NodeAgentConfig, secrets: SecretValues): EffectiveConfig {
  const e: EffectiveConfig = {
    config,
    proxy: effectiveProxy(config.proxy, secrets.proxy),
    mirror: effectiveMirrorAccess(config.agent, secrets.mirror, secrets.mirrorCa),
    activation: effectiveActivation(config.registration, secrets.activation),
  };
  // It holds this pass's secrets: a log line, JSON or util.inspect of it shows the redacted view. Not enumerable,
  // so comparisons and spreads see the four fields only.
  const view = () => redacted(e);
  Object.defineProperty(e, 'toJSON', { value: view, enumerable: false });
  Object.defineProperty(e, Symbol.for('nodejs.util.inspect.custom'), { value: view, enumerable: false });
  return e;
}
