// A slow path to the API server, for one client: a loopback HTTP proxy in front of the test control plane (TLS to
// it, with its CA; plain HTTP on loopback to the client) that passes everything through — watches stream — except that, while a slow-down is armed,
// matching requests reach the API server at once but their answers are held back for a while. A client whose
// timeout is shorter sees a write fail that in fact succeeded. Its own kubeconfig points the client at the proxy.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

export interface SlowRule {
  /** which requests are slowed */
  match(method: string, path: string): boolean;
  /** how long each answer is held */
  delayMs: number;
}

export interface SlowApiProxy {
  readonly url: string;
  /** a kubeconfig for the client that should take the slow path */
  readonly kubeconfigPath: string;
  /** arms a slow-down; returns a function that disarms it */
  slow(rule: SlowRule): () => void;
  /** requests that were slowed: method, path, and when they reached the API server's answer */
  readonly slowed: { method: string; path: string; status: number }[];
  stop(): Promise<void>;
}

export async function startSlowApiProxy(opts: { server: string; caPem: string; token: string; kubeconfigPath: string }): Promise<SlowApiProxy> {
  const upstream = new URL(opts.server);
  const rules = new Set<SlowRule>();
  const slowed: SlowApiProxy['slowed'] = [];
  const timers = new Set<NodeJS.Timeout>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const rule = [...rules].find((r) => r.match(method, path.split('?')[0] ?? path));
    const up = httpsRequest(
      { host: upstream.hostname, port: upstream.port, method, path, headers: { ...req.headers, host: upstream.host }, ca: opts.caPem },
      (answer) => {
        const pass = () => {
          if (res.destroyed) {
            answer.resume();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        };
        if (!rule) return pass();
        slowed.push({ method, path, status: answer.statusCode ?? 0 });
        answer.pause();
        const timer = setTimeout(() => {
          timers.delete(timer);
          pass();
        }, rule.delayMs);
        timers.add(timer);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };

  const server = createServer(forward);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('slow-api-proxy: no TCP address');
  const url = `http://127.0.0.1:${address.port}`;
  writeFileSync(
    opts.kubeconfigPath,
    `apiVersion: v1
kind: Config
clusters: [{name: slow, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]
users: [{name: slow, user: {token: "${opts.token}"}}]
contexts: [{name: slow, context: {cluster: slow, user: slow}}]
current-context: slow
`,
    { mode: 0o600 },
  );
  return {
    url,
    kubeconfigPath: opts.kubeconfigPath,
    slowed,
    slow(rule) {
      rules.add(rule);
      return () => rules.delete(rule);
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
