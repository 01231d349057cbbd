// URLs as they may appear in messages, logs and status: without user:password and without a query string
// (a mirror may carry a token or a pre-signed signature there).

export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(url.toString());
  } catch {
    return '<invalid URL>';
  }
  const hadQuery = u.search !== '';
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  return hadQuery ? `${u.toString()}?<redacted>` : u.toString();
}
