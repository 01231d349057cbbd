// The redirect and credentials policy of a download, hop by hop. Pure.
import { redactUrl } from '../../operator/api/redact-url.ts';
import { DownloadError } from './download-error.ts';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function isRedirect(status: number): boolean {
  return REDIRECTS.has(status);
}

/**
 * Where a redirect leads, or why it is not followed: at most `maxRedirects` hops, http(s) only, and never from
 * https down to http.
 */
export function redirectTarget(from: URL, status: number, location: string | undefined, hop: number, maxRedirects: number): URL {
  if (!location) throw new DownloadError('Redirect', `HTTP ${status} without a Location header`, { status });
  if (hop >= maxRedirects) throw new DownloadError('Redirect', `more than ${maxRedirects} redirects`, { status });
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new DownloadError('Redirect', `HTTP ${status} to an invalid Location`, { status });
  }
  if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new DownloadError('Redirect', `redirect to a ${next.protocol} URL refused`, { status });
  if (from.protocol === 'https:' && next.protocol === 'http:') throw new DownloadError('Redirect', `redirect from https to http refused (${redactUrl(next)})`, { status });
  return next;
}

/** Basic credentials from the URL's user:password, for the URL's own origin only. */
export function basicAuth(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

/** The URL as sent on the wire: no credentials, no fragment. */
export function wireUrl(url: URL): URL {
  const u = new URL(url.toString());
  u.username = '';
  u.password = '';
  u.hash = '';
  return u;
}
