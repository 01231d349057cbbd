// /healthz (the process is alive), /readyz (caches synced; a standby replica is ready too) and /metrics.
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
// process.getBuiltinModule, not an ESM import: that loads Node's bundled undici (test/unit/node-agent-modules.test.ts).
const { createServer } = process.getBuiltinModule('node:http');

export interface HttpServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  ready: () => { ok: boolean; detail: string };
  /** Liveness beyond "the process answers" (default: always alive). */
  live?: () => { ok: boolean; detail: string };
}

export async function startHttpServer(opts: HttpServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const l = opts.live?.() ?? { ok: true, detail: 'ok' };
      res.writeHead(l.ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${l.detail}\n`);
    } else if (path === '/readyz') {
      const r = opts.ready();
      res.writeHead(r.ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${r.detail}\n`);
    } else if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': opts.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return server;
}
