// Parses a proxy URL (http_proxy / https_proxy syntax) into what the probe needs. Pure. Credentials in the URL
// become a ready Proxy-Authorization header value and are never kept in anything printable.
import { ReasonedError, type Result } from '../../operator/lib/errors.ts';

export interface ProxyServer {
  /** How the probe talks to the proxy itself: plain TCP, or TLS (an https:// proxy URL). */
  protocol: 'http' | 'https';
  host: string;
  port: number;
  /** `Basic …` when the URL carries credentials. Never log this. */
  authorization?: string;
  /** The URL without credentials, safe to log and return. */
  display: string;
}

/** The proxy, or why it cannot be used (ProxyUrlInvalid). No cause is kept: the URL parser's error holds the URL,
 * password included. */
export type ParsedProxy = Result<{ proxy: ProxyServer }, 'ProxyUrlInvalid'>;

const invalid = (message: string): ReasonedError<'ProxyUrlInvalid'> => new ReasonedError('ProxyUrlInvalid', message);

/**
 * Parses `http://[user[:pass]@]host[:port][/]`; a URL without a scheme is taken as http:// (as Go and curl do).
 * Default ports: 80 for http, 443 for https (Go's). Errors never repeat the URL (it may hold a password).
 */
export function parseProxyUrl(text: string): ParsedProxy {
  const trimmed = text.trim();
  if (trimmed === '') return invalid('empty proxy URL');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return invalid('the proxy URL is not a valid URL');
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    return invalid(`proxy scheme ${scheme}:// is not supported (only http:// and https:// proxies)`);
  }
  if (url.hostname === '') return invalid('the proxy URL has no host');
  const port = url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port);
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    let user: string;
    let pass: string;
    try {
      user = decodeURIComponent(url.username);
      pass = decodeURIComponent(url.password);
    } catch {
      return invalid('the proxy URL has badly percent-encoded credentials');
    }
    authorization = `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
  }
  // URL keeps IPv6 hosts in brackets; sockets want them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const display = `${scheme}://${url.hostname}:${port}`;
  return { ok: true, proxy: { protocol: scheme, host, port, display, ...(authorization ? { authorization } : {}) } };
}
