// The no_proxy decision: does a request to host:port go direct or through the proxy? Pure.
//
// Semantics (curl's and Go's golang.org/x/net/http/httpproxy, where they agree, and curl's where they do not):
//   - entries are case-insensitive; an entry may itself hold a comma- or space-separated list;
//   - `*` alone matches every host;
//   - a name matches the host itself and every subdomain: `example.com`, `.example.com` and `*.example.com` all
//     match `example.com` and `a.example.com` (Go's httpproxy does not let `.example.com` match `example.com`;
//     curl does, and so do we), never `badexample.com`; a trailing dot on either side is ignored;
//   - an IP address matches that address only (compared as bytes: `::1` = `0:0:0:0:0:0:0:1`), a CIDR matches every
//     address in the range (IPv4 and IPv6; an IPv4-mapped IPv6 host counts as its IPv4 address);
//   - names and addresses never match each other: no DNS is done here, so `localhost` does not match 127.0.0.1
//     and `10.0.0.0/8` does not match a name that resolves into it (the proxy-using client does not resolve either);
//   - `host:port` / `[v6]:port` entries match only that port; CIDR entries take no port.
// Unlike Go's http.ProxyFromEnvironment, loopback hosts are not exempted implicitly: only the list decides.

export type NoProxyRule =
  | { kind: 'all'; entry: string }
  | { kind: 'address'; entry: string; bytes: Uint8Array; port?: number }
  | { kind: 'cidr'; entry: string; bytes: Uint8Array; prefix: number }
  | { kind: 'domain'; entry: string; domain: string; port?: number };

/** Parses a dotted-quad IPv4 or an IPv6 address (brackets and a %zone allowed) into 4 or 16 bytes. */
export function parseIp(text: string): Uint8Array | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0 && s.includes(':')) s = s.slice(0, zone);
  const v4 = parseIpv4(s);
  if (v4) return v4;
  const v6 = parseIpv6(s);
  if (!v6) return undefined;
  // ::ffff:a.b.c.d is an IPv4 address.
  if (v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return v6.slice(12);
  return v6;
}

function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    // Decimal only, no leading zeros (01 is octal to some parsers: refuse rather than guess).
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

function parseIpv6(s: string): Uint8Array | undefined {
  if (!s.includes(':') || !/^[0-9a-f:.]+$/i.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string;
      if (item.includes('.')) {
        // An embedded IPv4 address, only as the last item.
        if (i !== items.length - 1) return undefined;
        const v4 = parseIpv4(item);
        if (!v4) return undefined;
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  // An embedded IPv4 address may only end the address: not in the head when a tail follows.
  if (halves.length === 2 && halves[0]?.includes('.')) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; undefined when malformed. */
function splitHostPort(s: string): { host: string; port?: number } | undefined {
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    const host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest === '') return { host };
    if (!rest.startsWith(':')) return undefined;
    const port = parsePort(rest.slice(1));
    return port === undefined ? undefined : { host, port };
  }
  const colons = s.split(':').length - 1;
  if (colons === 1) {
    const [host, portText] = s.split(':') as [string, string];
    const port = parsePort(portText);
    return port === undefined || host === '' ? undefined : { host, port };
  }
  return { host: s }; // a name, an IPv4 address, or a bare IPv6 address (no port possible)
}

function parseEntry(raw: string): NoProxyRule | undefined {
  const s = raw.trim().toLowerCase();
  if (s === '') return undefined;
  if (s === '*') return { kind: 'all', entry: raw };
  const slash = s.indexOf('/');
  if (slash >= 0) {
    const bytes = parseIp(s.slice(0, slash));
    const prefixText = s.slice(slash + 1);
    if (!bytes || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
    let prefix = Number(prefixText);
    // An IPv4-mapped range (::ffff:10.0.0.0/104) was folded to IPv4 by parseIp.
    const mapped = bytes.length === 4 && s.slice(0, slash).includes(':');
    if (mapped) prefix -= 96;
    if (prefix < 0 || prefix > bytes.length * 8) return undefined;
    return { kind: 'cidr', entry: raw, bytes, prefix };
  }
  const hp = splitHostPort(s);
  if (!hp) return undefined;
  const bytes = parseIp(hp.host);
  if (bytes) return { kind: 'address', entry: raw, bytes, ...(hp.port !== undefined ? { port: hp.port } : {}) };
  let domain = hp.host;
  if (domain.startsWith('*.')) domain = domain.slice(1);
  domain = domain.replace(/^\.+/, '').replace(/\.+$/, '');
  if (domain === '' || domain.includes('*')) return undefined;
  return { kind: 'domain', entry: raw, domain, ...(hp.port !== undefined ? { port: hp.port } : {}) };
}

/** Parses a no_proxy list; malformed entries are dropped (they can match nothing). */
export function parseNoProxy(list: readonly string[]): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const item of list) {
    for (const part of item.split(/[\s,]+/)) {
      const rule = parseEntry(part);
      if (rule) rules.push(rule);
    }
  }
  return rules;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function inCidr(ip: Uint8Array, net: Uint8Array, prefix: number): boolean {
  if (ip.length !== net.length) return false;
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (ip[i] !== net[i]) return false;
  const bits = prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return ((ip[full] as number) & mask) === ((net[full] as number) & mask);
}

/** The first rule that sends host:port direct, or undefined when the proxy is to be used. */
export function findNoProxyRule(host: string, port: number, rules: readonly NoProxyRule[]): NoProxyRule | undefined {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const ip = parseIp(h);
  if (!ip) h = h.replace(/\.+$/, '');
  for (const rule of rules) {
    switch (rule.kind) {
      case 'all':
        return rule;
      case 'address':
        if (ip && sameBytes(ip, rule.bytes) && (rule.port === undefined || rule.port === port)) return rule;
        break;
      case 'cidr':
        if (ip && inCidr(ip, rule.bytes, rule.prefix)) return rule;
        break;
      case 'domain':
        if (!ip && (h === rule.domain || h.endsWith(`.${rule.domain}`)) && (rule.port === undefined || rule.port === port)) return rule;
        break;
    }
  }
  return undefined;
}

/** The no_proxy entry that sends host:port direct, or undefined when the proxy is to be used. */
export function matchNoProxy(host: string, port: number, noProxy: readonly string[]): string | undefined {
  return findNoProxyRule(host, port, parseNoProxy(noProxy))?.entry.trim();
}

/** True when host:port bypasses the proxy. */
export function bypassesProxy(host: string, port: number, noProxy: readonly string[]): boolean {
  return matchNoProxy(host, port, noProxy) !== undefined;
}
