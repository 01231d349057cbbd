// The operator's HTTP client for `latest/VERSION`: undici, through the config's proxy unless no_proxy matches
// (undici's EnvHttpProxyAgent, given the values explicitly so the operator's own environment never leaks in).
import type { Dispatcher } from 'undici';
import { Agent, EnvHttpProxyAgent, fetch } from '../lib/undici-lean.ts';
import type { TextFetcher } from '../api/latest-version.ts';
import { redactUrl } from '../api/redact-url.ts';

export const undiciTextFetcher: TextFetcher = async (url, opts) => {
  const connect = opts.ca ? { connect: { ca: opts.ca } } : {};
  const proxy = opts.proxy;
  const dispatcher: Dispatcher =
    proxy && (proxy.httpsProxy || proxy.httpProxy)
      ? new EnvHttpProxyAgent({ httpProxy: proxy.httpProxy ?? '', httpsProxy: proxy.httpsProxy ?? '', noProxy: proxy.noProxy.join(','), ...connect })
      : new Agent(connect);
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  const shown = redactUrl(url);
  try {
    // undici drops Authorization on a redirect to another origin (Fetch standard): the mirror's credentials stay
    // with the mirror.
    const headers = opts.authorization ? { authorization: opts.authorization } : undefined;
    const res = await fetch(url, { dispatcher, signal: AbortSignal.any(signals), redirect: 'follow', ...(headers ? { headers } : {}) });
    const where = redactUrl(res.url || url);
    if (res.status === 404) return { ok: false, reason: 'NotFound', message: `${where}: HTTP 404`, url: where };
    if (res.status < 200 || res.status > 299) return { ok: false, reason: 'HttpError', message: `${where}: HTTP ${res.status}`, url: where };
    // Bounded: a hostile or broken server cannot make the operator read more than maxBytes.
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body ?? []) {
      total += (chunk as Uint8Array).length;
      if (total > opts.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        return { ok: false, reason: 'TooLarge', message: `${where}: more than ${opts.maxBytes} bytes`, url: where };
      }
      chunks.push(chunk as Uint8Array);
    }
    return { ok: true, text: Buffer.concat(chunks).toString('utf8'), url: where };
  } catch (err) {
    const e = err as Error & { cause?: Error };
    const timeout = e.name === 'TimeoutError' || e.name === 'AbortError';
    return { ok: false, reason: timeout ? 'Timeout' : 'Network', message: `${shown}: ${timeout ? `no answer within ${opts.timeoutMs} ms` : (e.cause?.message ?? e.message)}`, url: shown };
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
};
