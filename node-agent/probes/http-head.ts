// Reading the first bytes of an HTTP response by hand: the status line (for GET) or the whole header block (for
// CONNECT). Pure helpers, shared by the proxy tunnel and the http step.

export const USER_AGENT = 'ssm-agent-operator-probe/1';

/** `host:port` for a request target or Host header; IPv6 addresses in brackets. */
export function authority(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface StatusLine {
  status: number;
  /** The status line with control characters removed and at most 120 characters (it goes into messages). */
  text: string;
}

/** Parses `HTTP/1.1 200 OK`; undefined when the line is not an HTTP status line. */
export function parseStatusLine(line: string): StatusLine | undefined {
  const m = /^HTTP\/\d(?:\.\d)? ([1-5][0-9]{2})(?: .*)?$/.exec(line);
  if (!m) return undefined;
  return { status: Number(m[1]), text: printable(line) };
}

/** A string from a remote peer made safe for a message: no control characters, bounded length. */
export function printable(text: string, max = 120): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
