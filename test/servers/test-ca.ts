// A throwaway certificate authority for tests, made with the openssl CLI: a CA certificate and server certificates
// for given DNS names / IP addresses (optionally with chosen validity dates, e.g. already expired), and self-signed
// certificates that no bundle trusts. EC P-256 keys: fast to make. Everything lives in the directory given.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface IssueOptions {
  /** File name stem in the CA directory ("server" → server.crt, server.key). */
  name: string;
  dnsNames?: readonly string[];
  ips?: readonly string[];
  commonName?: string;
  /** O= of the subject (Kubernetes reads it as the group of a client certificate) */
  organization?: string;
  /** a client certificate (clientAuth) instead of a server one; needs no DNS name or IP */
  client?: boolean;
  /** Default: one hour ago. */
  notBefore?: Date;
  /** Default: one day from now. */
  notAfter?: Date;
}

export interface TestCa extends CertFiles {
  dir: string;
  /** A server certificate signed by this CA. */
  issue(opts: IssueOptions): CertFiles;
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0] ?? ''} failed: ${e.stderr?.toString() || e.message}`);
  }
}

/** OpenSSL's GeneralizedTime for `openssl ca -startdate/-enddate`. */
function asn1Time(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function sanSection(opts: { dnsNames?: readonly string[]; ips?: readonly string[] }): string {
  const lines = [...(opts.dnsNames ?? []).map((n, i) => `DNS.${i + 1} = ${n}`), ...(opts.ips ?? []).map((ip, i) => `IP.${i + 1} = ${ip}`)];
  if (lines.length === 0) throw new Error('a server certificate needs at least one DNS name or IP address');
  return lines.join('\n');
}

function config(dir: string, commonName: string, san?: string, organization?: string): string {
  return `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = ${commonName}
${organization ? `O = ${organization}` : ''}
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
${san ? 'subjectAltName = @alt\n[alt]\n' + san : ''}
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
[ca]
default_ca = test_ca
[test_ca]
database = ${join(dir, 'index.txt')}
new_certs_dir = ${join(dir, 'issued')}
certificate = ${join(dir, 'ca.crt')}
private_key = ${join(dir, 'ca.key')}
serial = ${join(dir, 'serial')}
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
`;
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function files(dir: string, name: string): CertFiles {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

export function createTestCa(dir: string, commonName = 'ssm-agent-operator test CA'): TestCa {
  mkdirSync(join(dir, 'issued'), { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  const caConf = join(dir, 'ca.cnf');
  writeFileSync(caConf, config(dir, commonName));
  openssl(['req', '-x509', ...KEY_ARGS, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '2', '-config', caConf, '-extensions', 'v3_ca']);
  const ca = files(dir, 'ca');
  return {
    ...ca,
    dir,
    issue(opts) {
      const conf = join(dir, `${opts.name}.cnf`);
      const cn = opts.commonName ?? opts.dnsNames?.[0] ?? opts.ips?.[0] ?? opts.name;
      writeFileSync(conf, config(dir, cn, opts.client ? undefined : sanSection(opts), opts.organization));
      const csr = join(dir, `${opts.name}.csr`);
      openssl(['req', '-new', ...KEY_ARGS, '-keyout', join(dir, `${opts.name}.key`), '-out', csr, '-config', conf]);
      const notBefore = opts.notBefore ?? new Date(Date.now() - 3_600_000);
      const notAfter = opts.notAfter ?? new Date(Date.now() + 86_400_000);
      openssl([
        'ca', '-batch', '-notext', '-config', conf, '-extensions', opts.client ? 'v3_client' : 'v3_server',
        '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter), '-in', csr, '-out', join(dir, `${opts.name}.crt`),
      ]);
      return files(dir, opts.name);
    },
  };
}

/** A self-signed server certificate (its own issuer; in no bundle). */
export function selfSignedCert(dir: string, opts: IssueOptions): CertFiles {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, `${opts.name}.cnf`);
  writeFileSync(conf, config(dir, opts.commonName ?? opts.dnsNames?.[0] ?? opts.name, sanSection(opts)));
  openssl(['req', '-x509', ...KEY_ARGS, '-keyout', join(dir, `${opts.name}.key`), '-out', join(dir, `${opts.name}.crt`), '-days', '2', '-config', conf, '-extensions', 'v3_server']);
  return files(dir, opts.name);
}
