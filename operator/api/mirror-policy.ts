// A mirror's transport and credentials, judged alike wherever a mirror is used: the schema says the same in CEL at
// `kubectl apply`; the node agent checks again before it downloads (its ConfigMap may come from an older operator,
// and the Secret never passes the API server's validation), and so does the operator before it reads
// latest/VERSION. Pure; messages never repeat a credential.
import { CONTROL_CHARACTER } from './proxy-url.ts';
import { ReasonedError, type Result } from '../lib/errors.ts';

export interface MirrorRequest {
  mirror?: string;
  /** 'latest' or a pinned version */
  version: string;
  sha256?: string;
}

/**
 * Over plain http anyone on the path can swap the files: a signature still proves the bytes are AWS's (or the
 * re-signer's), but not which package, so an older signed one could be served. Only a pinned version with its
 * sha256 names the one package to install. Undefined when the mirror may be used.
 */
export function insecureMirrorProblem(req: MirrorRequest): string | undefined {
  if (!req.mirror) return undefined;
  let scheme: string;
  try {
    scheme = new URL(req.mirror).protocol;
  } catch {
    return undefined; // not a URL: package-urls.ts says so
  }
  if (scheme !== 'http:') return undefined;
  if (req.version !== 'latest' && req.sha256 !== undefined && req.sha256.trim() !== '') return undefined;
  return 'an http:// mirror is allowed only with the package pinned: use an https:// mirror, or pin agent.version and set agent.sha256 (the sha256 of that package)';
}

export interface MirrorCredentials {
  username: string;
  password: string;
}

export type MirrorCredentialsResult = Result<{ credentials: MirrorCredentials }, 'MirrorSecretInvalid'>;

const invalidCredentials = (message: string): ReasonedError<'MirrorSecretInvalid'> => new ReasonedError('MirrorSecretInvalid', message);

/** The username and password keys of the mirror Secret (`secretName` for messages), trimmed of outer white space. */
export function mirrorCredentials(username: string | undefined, password: string | undefined, secretName: string): MirrorCredentialsResult {
  const secret = `Secret ${secretName} (spec.agent.source.mirrorSecretRef)`;
  const user = username?.trim() ?? '';
  const pass = password?.trim() ?? '';
  if (user === '') return invalidCredentials(`${secret} has no username key with a value: create it in the operator's namespace with keys username and password`);
  if (pass === '') return invalidCredentials(`${secret} has no password key with a value: create it in the operator's namespace with keys username and password`);
  for (const [key, value] of [['username', user], ['password', pass]] as const) {
    if (CONTROL_CHARACTER.test(value)) return invalidCredentials(`key ${key} of ${secret} contains a control character (a newline, tab, NUL…): store the bare value`);
  }
  if (user.includes(':')) return invalidCredentials(`key username of ${secret} contains ":", which HTTP basic authentication cannot carry in a user name`);
  return { ok: true, credentials: { username: user, password: pass } };
}

/** The Authorization header value (RFC 7617, UTF-8). */
export function basicAuthorization(c: MirrorCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
