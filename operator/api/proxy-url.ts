// The one check of a proxy URL, for every place one comes from: the CR (the schema's CEL says the same at apply
// time), the proxy Secret (read by the node agent, which the API server never sees) and the drop-in writer. Pure.
// A proxy URL ends up inside a systemd drop-in and the agent's environment: a control character there is a new
// directive run as root, so it is refused, never escaped.

/** Any C0 control character, DEL, or a C1 control character (U+0080–U+009F). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

export const MAX_PROXY_URL_LENGTH = 2048;

export interface ProxyUrlRules {
  /** user:password@ allowed: the proxy Secret exists to carry them; inline values (stored in the CR) may not. */
  allowCredentials: boolean;
}

/** Why `value` is not a usable proxy URL, or undefined when it is. The message never repeats the value (it may hold
 * a password). */
export function proxyUrlProblem(value: string, rules: ProxyUrlRules): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_PROXY_URL_LENGTH) return `is longer than ${MAX_PROXY_URL_LENGTH} characters`;
  if (CONTROL_CHARACTER.test(value)) return 'contains a control character (a newline, tab, NUL…)';
  if (/\s/.test(value)) return 'contains white space';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL (for example http://proxy.example.com:3128)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `has scheme ${url.protocol.replace(/:$/, '')}; it must be http:// or https://`;
  if (url.hostname === '') return 'has no host';
  if ((url.username !== '' || url.password !== '') && !rules.allowCredentials) {
    return 'carries credentials (user:password@); put proxy URLs with credentials in the Secret of spec.proxy.secretRef instead';
  }
  return undefined;
}
