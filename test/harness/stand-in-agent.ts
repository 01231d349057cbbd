// The TEST STAND-IN amazon-ssm-agent package (not the real agent): AWS's buckets cannot be reached here, so tests
// build an honestly named .deb (test/fixtures/stand-in-agent/) and sign it the way AWS signs agent packages: a
// detached OpenPGP signature `amazon-ssm-agent.deb.sig` checked with `gpg --verify SIG DEB` against a published
// ASCII-armored public key (a primary key with a signing subkey, as AWS's "SSM Agent <ssm-agent-signer@…>" key).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive } from './managed-process.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD_SCRIPT = resolve(HERE, '..', 'fixtures', 'stand-in-agent', 'build.sh');
const GNUPG_PREFIX = 'ssm-stand-in-gpg-';
const COMMAND_TIMEOUT_MS = 60_000;

/** Where the stand-in (like the real agent) keeps its state, inside the host. */
export const STAND_IN_PATHS = {
  binary: '/usr/bin/amazon-ssm-agent',
  unit: '/lib/systemd/system/amazon-ssm-agent.service',
  registration: '/var/lib/amazon/ssm/registration',
  vaultKey: '/var/lib/amazon/ssm/Vault/Store/RegistrationKey',
  vaultManifest: '/var/lib/amazon/ssm/Vault/Manifest',
  vaultDir: '/var/lib/amazon/ssm/Vault',
  vaultStore: '/var/lib/amazon/ssm/Vault/Store',
  vaultFingerprint: '/var/lib/amazon/ssm/Vault/Store/InstanceFingerprint',
  /** test-only: where the stand-in finds the SSM emulator (the real agent: Ssm.Endpoint in its config) */
  endpointFile: '/etc/amazon/ssm/stand-in-ssm-endpoint',
  /** test-only timings: ping_seconds, retry_seconds, client_timeout_seconds, register_attempts, install_delay_seconds (postinst) */
  settings: '/etc/amazon/ssm/stand-in-settings',
  /** one line per successful registration (stand-in only), so tests can count registrations */
  registrationsLog: '/var/lib/amazon/ssm/stand-in-registrations.log',
  /** test-only: present while the postinst's test pause (install_delay_seconds) runs */
  postinstRunning: '/run/stand-in-postinst-running',
  agentLog: '/var/log/amazon/ssm/amazon-ssm-agent.log',
  configTemplate: '/etc/amazon/ssm/amazon-ssm-agent.json.template',
  seelogTemplate: '/etc/amazon/ssm/seelog.xml.template',
} as const;

export interface StandInSettings {
  /** the SSM emulator's URL */
  emulatorUrl?: string;
  /** seconds between pings (UpdateInstanceInformation); the real agent's HealthFrequencyMinutes is 5 */
  pingSeconds?: number;
  /** seconds between role-token retries */
  retrySeconds?: number;
  /** the SSM client timeout of one attempt (the real agent: 60) */
  clientTimeoutSeconds?: number;
  /** attempts of -register's RegisterManagedInstance (the real agent: 3) */
  registerAttempts?: number;
  /** seconds the package's postinst takes (a slow package manager: dpkg runs that long); at most 600 */
  installDelaySeconds?: number;
}

/** Writes the stand-in's test-only endpoint and timing files into a host (before or after the package is installed). */
export async function configureStandIn(host: { writeFileAtomic(path: string, content: string, mode: number): Promise<void> }, s: StandInSettings): Promise<void> {
  if (s.emulatorUrl !== undefined) await host.writeFileAtomic(STAND_IN_PATHS.endpointFile, s.emulatorUrl, 0o644);
  const lines = [
    s.pingSeconds !== undefined ? `ping_seconds=${s.pingSeconds}` : '',
    s.retrySeconds !== undefined ? `retry_seconds=${s.retrySeconds}` : '',
    s.clientTimeoutSeconds !== undefined ? `client_timeout_seconds=${s.clientTimeoutSeconds}` : '',
    s.registerAttempts !== undefined ? `register_attempts=${s.registerAttempts}` : '',
    s.installDelaySeconds !== undefined ? `install_delay_seconds=${s.installDelaySeconds}` : '',
  ].filter((l) => l !== '');
  await host.writeFileAtomic(STAND_IN_PATHS.settings, `${lines.join('\n')}\n`, 0o644);
}

/** Activation codes that make the stand-in's `-register` fail like the real service; any other code succeeds. */
export const STAND_IN_ACTIVATION_CODES = {
  expired: 'EXPIRED-stand-in-activation-code',
  invalid: 'INVALID-stand-in-activation-code',
  limitExceeded: 'LIMIT-stand-in-activation-code',
  ok: 'OK-stand-in-activation-code',
} as const;

/** The real agent's error lines (after the timestamp and level) for each failure. */
export const REGISTRATION_ERRORS = {
  ActivationExpired: 'Registration failed due to error registering the instance with AWS SSM. ActivationExpired: ',
  InvalidActivation: 'Registration failed due to error registering the instance with AWS SSM. InvalidActivation: ',
  RegistrationLimitExceeded:
    'Registration failed due to error registering the instance with AWS SSM. RegistrationLimitExceeded: ' +
    'Registration limit of 20000 reached for SSM On-prem managed instances.',
} as const;

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(command, args, { env, timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${command} ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolvePromise({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined); // a command that does not read stdin may close it first (EPIPE)
    child.stdin?.end(input ?? '');
  });
}

async function mustExec(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await exec(command, args, env);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface BuildStandInOptions {
  /** the agent version, e.g. "3.3.1142.0"; the package version is `${version}-1` like the real one */
  version: string;
  /** where the .deb goes (created if missing) */
  outDir: string;
  /** MiB of incompressible padding, so the package is as large as the real one (~30 MB); default 0 */
  padMiB?: number;
}

/** Builds amazon-ssm-agent_<version>-1_<arch>.deb (the stand-in) with dpkg-deb and returns its path. */
export async function buildStandInDeb(opts: BuildStandInOptions): Promise<string> {
  const out = await mustExec('bash', [BUILD_SCRIPT, opts.version, opts.outDir, String(opts.padMiB ?? 0)]);
  const path = out.trim().split('\n').pop() ?? '';
  if (!path.endsWith('.deb')) throw new Error(`${BUILD_SCRIPT} printed no .deb path: ${out}`);
  return path;
}

/** Removes keyrings of earlier test processes that died mid-signing (their gpg-agent exits once its socket goes). */
function removeStaleKeyrings(): void {
  try {
    for (const name of readdirSync(tmpdir())) {
      const m = new RegExp(`^${GNUPG_PREFIX}(\\d+)-`).exec(name);
      if (!m?.[1] || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  } catch {
    // best effort
  }
}

/** Runs `fn` with a throwaway GNUPGHOME; its gpg-agent is stopped and the directory removed afterwards. */
async function withGnupgHome<T>(fn: (gpg: (args: string[]) => Promise<string>, home: string) => Promise<T>): Promise<T> {
  removeStaleKeyrings();
  const home = mkdtempSync(join(tmpdir(), `${GNUPG_PREFIX}${process.pid}-`));
  const env = { ...process.env, GNUPGHOME: home, LANG: 'C', LC_ALL: 'C' };
  const gpg = (args: string[]) => mustExec('gpg', ['--batch', '--no-tty', '--quiet', ...args], env);
  try {
    return await fn(gpg, home);
  } finally {
    await exec('gpgconf', ['--homedir', home, '--kill', 'all'], env).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Signs `debPath` with a fresh throwaway key: writes the detached signature `${debPath}.sig` (binary OpenPGP, as
 * `gpg --detach-sign` makes and `gpg --verify` reads) and returns the ASCII-armored public key.
 */
export async function signStandIn(debPath: string): Promise<string> {
  return withGnupgHome(async (gpg) => {
    const noPass = ['--pinentry-mode', 'loopback', '--passphrase', ''];
    const uid = 'TEST STAND-IN SSM Agent signer (not AWS) <ssm-agent-stand-in@example.invalid>';
    await gpg([...noPass, '--quick-generate-key', uid, 'rsa2048', 'cert', '2d']);
    const colons = await gpg(['--with-colons', '--list-keys', uid]);
    const fpr = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(colons)?.[1];
    if (!fpr) throw new Error(`no fingerprint for the new key:\n${colons}`);
    await gpg([...noPass, '--quick-add-key', fpr, 'rsa2048', 'sign', '2d']);
    await gpg([...noPass, '--yes', '--detach-sign', '--output', `${debPath}.sig`, debPath]);
    return gpg(['--armor', '--export', fpr]);
  });
}

export interface VerifyResult {
  ok: boolean;
  /** gpg's status lines (--status-fd) and messages */
  output: string;
}

/** `gpg --verify SIG FILE` against only `publicKey`, in a throwaway keyring (what a careful installer does). */
export async function gpgVerify(publicKey: string, sigPath: string, filePath: string): Promise<VerifyResult> {
  return withGnupgHome(async (gpg, home) => {
    const keyFile = join(home, 'key.asc');
    writeFileSync(keyFile, publicKey);
    await gpg(['--import', keyFile]);
    const r = await exec('gpg', ['--batch', '--no-tty', '--status-fd', '1', '--verify', sigPath, filePath], {
      ...process.env,
      GNUPGHOME: home,
      LANG: 'C',
      LC_ALL: 'C',
    });
    return { ok: r.code === 0 && /^\[GNUPG:\] VALIDSIG /m.test(r.stdout), output: r.stdout + r.stderr };
  });
}
