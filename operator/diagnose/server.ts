// The operator's diagnosis endpoint (HTTPS, DIAGNOSE_PORT, default OPERATOR_DIAGNOSE_PORT in manifests/names.ts), run by the leader next to the fleet
// channel, whose connections it needs: only the leader can ask a node agent for a probe. The CLI reaches it through
// the API server's pod proxy (so only with the caller's kubeconfig) at the pod the leader Lease names; a replica that
// does not lead does not listen, so a request never lands on a standby's stale view.
//
//   GET /diagnose/v1/nodes/NODE[?probe=false][&waitSeconds=N]  → NodeDiagnosis (asks the node for a probe first)
//   GET /diagnose/v1/nodes                                      → { nodes: NodeSummary[] }
//
// Every request is authenticated and authorised (access.ts); errors are Kubernetes Status objects, which the API
// server's proxy passes through and kubectl-style clients print.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import type { NodeState } from '../api/fleet-protocol.ts';
import { checkAccess } from './access.ts';
import type { FreshProbes } from './fresh-probes.ts';
import { buildDiagnosis, CALLER_TOKEN_HEADER, DIAGNOSE_PATH, summarizeNode, type NodeObjectFacts } from './report.ts';

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MAX_IN_FLIGHT = 16;

export interface DiagnoseServerOptions {
  client: KubeClient;
  log: Logger;
  tls: { cert: string; key: string };
  port: number;
  host?: string;
  fleet: { requestProbe(node: string): boolean };
  /** What the node's agent last reported, and for which config. */
  report(node: string): { config: string; state: NodeState; connected: boolean } | undefined;
  /** The Node objects (from the operator's cache). */
  nodes(): { name: string; meta: NodeObjectFacts }[];
  fresh: FreshProbes;
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message }));
}

export class DiagnoseServer {
  private readonly opts: DiagnoseServerOptions;
  private readonly server: https.Server;
  private inFlight = 0;

  private constructor(opts: DiagnoseServerOptions) {
    this.opts = opts;
    this.server = https.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        opts.log.error({ err: (err as Error).message }, 'diagnosis failed');
        if (!res.headersSent) status(res, 500, 'InternalError', (err as Error).message);
      });
    });
  }

  static async start(opts: DiagnoseServerOptions): Promise<DiagnoseServer> {
    const s = new DiagnoseServer(opts);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(opts.port, opts.host, () => {
        s.server.off('error', reject);
        resolve();
      });
    });
    s.server.on('error', (err) => opts.log.error({ err: err.message }, 'diagnosis server error'));
    opts.log.info({ port: s.port }, 'diagnosis endpoint listening');
    return s;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  updateTls(tls: { cert: string; key: string }): void {
    this.server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://diagnose.invalid');
    if (req.method !== 'GET') return status(res, 405, 'MethodNotAllowed', 'only GET');
    const path = url.pathname.replace(/\/+$/, '');
    let node: string | undefined;
    if (path === DIAGNOSE_PATH) node = undefined;
    else if (path.startsWith(`${DIAGNOSE_PATH}/`)) {
      node = decodeURIComponent(path.slice(DIAGNOSE_PATH.length + 1));
      if (!NODE_NAME.test(node) || node.length > 253) return status(res, 400, 'BadRequest', `${JSON.stringify(node)} is not a node name`);
    } else return status(res, 404, 'NotFound', `the diagnosis endpoint is ${DIAGNOSE_PATH}[/NODE]`);
    if (this.inFlight >= MAX_IN_FLIGHT) return status(res, 429, 'TooManyRequests', 'too many diagnoses at once; retry');
    this.inFlight++;
    try {
      const token = String(req.headers[CALLER_TOKEN_HEADER] ?? '').replace(/^Bearer\s+/i, '').trim() || undefined;
      const report = node ? this.opts.report(node) : undefined;
      const access = await checkAccess(this.opts.client, token, report?.config);
      if (!access.ok) {
        this.opts.log.warn({ node, status: access.status, err: access.message }, 'diagnosis refused');
        return status(res, access.status, access.status === 401 ? 'Unauthorized' : access.status === 403 ? 'Forbidden' : 'ServiceUnavailable', access.message);
      }
      this.opts.log.info({ node: node ?? '--all', user: access.caller.username }, 'diagnosis');
      if (!node) return this.summaries(res);
      return await this.diagnose(res, node, url, req);
    } finally {
      this.inFlight--;
    }
  }

  private summaries(res: ServerResponse): void {
    const nodes = this.opts.nodes().map(({ name, meta }) => {
      const r = this.opts.report(name);
      return summarizeNode({ node: name, ...(r ? { config: r.config, state: r.state } : {}), connected: r?.connected ?? false, nodeObject: meta, selected: r !== undefined });
    });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ nodes }));
  }

  private async diagnose(res: ServerResponse, node: string, url: URL, req: IncomingMessage): Promise<void> {
    const meta = this.opts.nodes().find((n) => n.name === node)?.meta;
    const before = this.opts.report(node);
    if (!meta && !before) return status(res, 404, 'NotFound', `no node ${node} in the cluster, and no node agent reports for it`);
    const wantProbe = url.searchParams.get('probe') !== 'false';
    const waitSeconds = Math.min(Math.max(Number(url.searchParams.get('waitSeconds') ?? 30) || 30, 1), 60);
    let probe: 'fresh' | 'stale' | 'not-asked' = 'not-asked';
    if (wantProbe && before?.connected) {
      const aborted = new AbortController();
      req.once('close', () => aborted.abort());
      // Wait first, then ask: the answer cannot slip in between.
      const answer = this.opts.fresh.wait(node, waitSeconds * 1000, aborted.signal);
      if (this.opts.fleet.requestProbe(node)) probe = (await answer) ? 'fresh' : 'stale';
      else {
        aborted.abort();
        probe = 'stale';
      }
    }
    const after = this.opts.report(node) ?? before;
    const nodeAgentVersion = this.opts.fresh.nodeAgentVersion(node);
    const diagnosis = buildDiagnosis({
      node,
      ...(after ? { config: after.config, state: after.state } : {}),
      connected: after?.connected ?? false,
      probe,
      ...(nodeAgentVersion ? { nodeAgentVersion } : {}),
      ...(meta ? { nodeObject: meta } : {}),
    });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(diagnosis));
  }
}
