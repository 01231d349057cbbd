// An https:// front for a plain-http test server, with a certificate from a private CA made for the run: how the
// real-cluster tests give the nodes an https mirror (spec.agent.source.caBundle) without a public certificate.
// Every request is passed through to the http server as it is, path and headers included.
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateCa, issueServingCertificate } from '../../operator/fleet/certificates.ts';

export interface HttpsFront {
  readonly port: number;
  /** The private CA's certificate (PEM): what a client must trust. */
  readonly caPem: string;
  close(): Promise<void>;
}

/** `ips`: the addresses clients dial (the certificate's SANs). `targetPort`: the http server on 127.0.0.1. */
export async function startHttpsFront(opts: { targetPort: number; ips: string[]; dnsNames?: string[] }): Promise<HttpsFront> {
  const ca = await generateCa({ commonName: 'ssm-agent-operator test mirror CA' });
  const serving = await issueServingCertificate(ca, { ips: opts.ips, dnsNames: opts.dnsNames ?? ['localhost'] });
  const server: Server = createServer({ key: serving.key, cert: serving.cert }, (req, res) => {
    const upstream = httpRequest({ host: '127.0.0.1', port: opts.targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    caPem: ca.cert,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
