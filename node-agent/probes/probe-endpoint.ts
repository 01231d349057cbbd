// One connectivity probe of one endpoint, the way the agent would reach it: dns → tcp → (proxy CONNECT) → tls →
// http, each step timed and bounded by the timeout. Never throws: every failure is a result with one reason.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext, TLSSocket } from 'node:tls';
import { ProbeError, classify, errorCode } from './classify.ts';
import { connectTcp } from './connect-tcp.ts';
import { httpStatus } from './http-status.ts';
import { matchNoProxy } from './no-proxy.ts';
import { openTunnel } from './proxy-tunnel.ts';
import { parseProxyUrl, type ProxyServer } from './proxy-url.ts';
import { resolveHost } from './resolve-host.ts';
import { tlsHandshake } from './tls-handshake.ts';
import { trustContext } from './trust.ts';
import type { Phase, ProbeResult, ProbeTarget, Step, Via } from './types.ts';

export interface ProbeOptions {
  /** Bound of each step (dns, tcp, CONNECT, tls, http), in milliseconds. */
  timeoutMs: number;
  /**
   * The proxy for HTTPS traffic (what the agent gets as https_proxy): a URL, possibly with credentials, or an
   * already parsed one. Absent or empty: direct.
   */
  proxy?: string | ProxyServer;
  /** no_proxy entries; a match sends the probe direct although a proxy is set. */
  noProxy?: readonly string[];
  /** An extra PEM bundle trusted beside Node's and the system's roots (a corporate CA, a test CA). */
  caFile?: string;
  /** Cancels the probe; it then fails in the step it was in, like a timeout. */
  signal?: AbortSignal;
  /** Clock for `at` (tests). */
  now?: () => Date;
}

const seconds = (fromMs: number): number => (performance.now() - fromMs) / 1000;

interface Route {
  via: Via;
  proxy?: ProxyServer;
  noProxyMatch?: string;
}

function route(host: string, port: number, opts: ProbeOptions): Route | { error: string } {
  if (opts.proxy === undefined || opts.proxy === '') return { via: 'direct' };
  let proxy: ProxyServer;
  if (typeof opts.proxy === 'string') {
    const parsed = parseProxyUrl(opts.proxy);
    if (!parsed.ok) return { error: parsed.message };
    proxy = parsed.proxy;
  } else {
    proxy = opts.proxy;
  }
  const noProxyMatch = matchNoProxy(host, port, opts.noProxy ?? []);
  if (noProxyMatch !== undefined) return { via: 'direct', noProxyMatch };
  return { via: 'proxy', proxy };
}

export async function probeEndpoint(target: ProbeTarget, opts: ProbeOptions): Promise<ProbeResult> {
  const port = target.port ?? 443;
  const at = (opts.now ?? (() => new Date()))();
  const base = { endpoint: target.name, host: target.host, at };
  const chosen = route(target.host, port, opts);
  if ('error' in chosen) {
    return { ...base, via: 'proxy', ok: false, reason: 'proxy', message: `proxy not usable: ${chosen.error}`, phases: {} };
  }
  const { via, proxy } = chosen;
  const result: ProbeResult = {
    ...base,
    via,
    ok: false,
    phases: {},
    ...(proxy ? { proxy: proxy.display } : {}),
    ...(chosen.noProxyMatch !== undefined ? { noProxyMatch: chosen.noProxyMatch } : {}),
  };
  const { timeoutMs, signal } = opts;
  const opened: (Socket | TLSSocket)[] = [];
  let step: Step = 'tls';
  let t = 0;
  const done = (phase: Phase): void => {
    result.phases[phase] = seconds(t);
  };
  try {
    // Loaded before any timing: reading the system store once costs tens of ms and is not the network's time.
    let trust: SecureContext;
    try {
      trust = await trustContext(opts.caFile);
    } catch (err) {
      throw new ProbeError('tls', 'CA_BUNDLE', `cannot use the CA bundle ${opts.caFile ?? ''}: ${(err as Error).message}`, { cause: err });
    }

    // dns: the endpoint's name, or — via a proxy, which resolves the target itself — the proxy's name.
    step = 'dns';
    const dnsHost = proxy ? proxy.host : target.host;
    result.resolvedHost = dnsHost;
    t = performance.now();
    const addresses = await resolveHost(dnsHost, timeoutMs, signal);
    done('dns');
    result.addresses = addresses;

    // tcp: to the endpoint, or to the proxy and through its tunnel (CONNECT is part of opening the byte stream).
    step = 'tcp';
    t = performance.now();
    const tcp = await connectTcp(addresses, proxy ? proxy.port : port, timeoutMs, signal);
    opened.push(tcp.socket);
    result.connectedAddress = tcp.address;
    let stream: Duplex = tcp.socket;
    if (proxy) {
      step = 'connect';
      if (proxy.protocol === 'https') {
        const toProxy = await tlsHandshake(stream, proxy.host, trust, 'connect', timeoutMs, signal);
        opened.push(toProxy);
        stream = toProxy;
      }
      await openTunnel(stream, { host: target.host, port, authorization: proxy.authorization, proxyDisplay: proxy.display }, timeoutMs, signal);
    }
    done('tcp');

    step = 'tls';
    t = performance.now();
    const secure = await tlsHandshake(stream, target.host, trust, 'tls', timeoutMs, signal);
    opened.push(secure);
    done('tls');

    step = 'http';
    t = performance.now();
    const status = await httpStatus(secure, target.host, port, timeoutMs, signal);
    done('http');
    result.httpStatus = status.status;
    result.ok = true;
    return result;
  } catch (err) {
    const failedStep = err instanceof ProbeError ? err.step : step;
    const code = errorCode(err);
    result.reason = classify(failedStep, code, via);
    let message = err instanceof Error ? err.message : String(err);
    if (proxy && (failedStep === 'dns' || failedStep === 'tcp')) message = `proxy ${proxy.display} unreachable: ${message}`;
    result.message = message;
    return result;
  } finally {
    for (const s of opened.reverse()) s.destroy();
  }
}
