// The tls step: a TLS handshake on an open stream with SNI = host and full verification (chain against the trusted
// roots, validity dates, host name). The handshake is allowed to finish unverified so that a verification failure
// (tls_untrusted — e.g. an intercepting proxy's certificate) is told apart from a broken handshake (tls_handshake);
// nothing is sent on an unverified connection.
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import { ProbeError, errorCode } from './classify.ts';
import { printable } from './http-head.ts';
import { runStep } from './run-step.ts';

const ignore = (): void => undefined;

function describeCert(cert: PeerCertificate | undefined): string {
  if (!cert || Object.keys(cert).length === 0) return 'no certificate';
  const name = (n: Record<string, unknown> | undefined): string => {
    if (!n) return '?';
    const cn = n.CN;
    const o = n.O;
    return [typeof cn === 'string' ? `CN=${cn}` : '', typeof o === 'string' ? `O=${o}` : ''].filter(Boolean).join(', ') || '?';
  };
  const subject = name(cert.subject as unknown as Record<string, unknown> | undefined);
  const issuer = name(cert.issuer as unknown as Record<string, unknown> | undefined);
  return printable(`subject ${subject}; issuer ${issuer}; valid ${cert.valid_from} – ${cert.valid_to}`, 300);
}

/**
 * `step` is 'tls' for the endpoint and 'connect' for the TLS session to an https:// proxy (a failure there is the
 * proxy's). `label` names the peer in messages.
 */
export function tlsHandshake(
  stream: Duplex,
  host: string,
  secureContext: SecureContext,
  step: 'tls' | 'connect',
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<TLSSocket> {
  const what = `TLS handshake with ${host}`;
  return runStep<TLSSocket>(step, what, timeoutMs, signal, ({ resolve, reject }) => {
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    const socket = connect({
      socket: stream,
      secureContext,
      // SNI carries names only (RFC 6066); an IP address is still checked against the certificate's IP SANs.
      ...(isIP(bare) === 0 ? { servername: bare } : {}),
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: false,
      checkServerIdentity: (_name, cert) => checkServerIdentity(bare, cert),
    });
    const stop = (): void => {
      socket.removeListener('secureConnect', onSecure);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const onSecure = (): void => {
      stop();
      socket.on('error', ignore);
      if (!socket.authorized) {
        const raw: unknown = socket.authorizationError;
        const code = typeof raw === 'string' ? raw : errorCode(raw);
        const cert = socket.getPeerCertificate();
        socket.destroy();
        reject(new ProbeError(step, code, `${what}: certificate not trusted (${code}): ${describeCert(cert)}`));
        return;
      }
      resolve(socket);
    };
    const onError = (err: Error): void => {
      stop();
      socket.on('error', ignore);
      socket.destroy();
      reject(new ProbeError(step, errorCode(err), `${what} failed: ${printable(err.message, 200)}`, { cause: err }));
    };
    const onClose = (): void => {
      stop();
      reject(new ProbeError(step, 'ECONNRESET', `${what}: the connection closed during the handshake`));
    };
    socket.once('secureConnect', onSecure);
    socket.once('error', onError);
    socket.once('close', onClose);
    return () => {
      stop();
      socket.on('error', ignore);
      socket.destroy();
    };
  });
}
