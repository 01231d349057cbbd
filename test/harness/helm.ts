// The real helm binary (built by test/tools/ensure-tools.sh) against the chart, with a private Helm home: the tests
// neither read nor write the user's repositories, plugins or cache.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTools } from './control-plane.ts';

/** The Kubernetes version the chart is rendered and linted for. */
export const KUBE_VERSION = '1.35.0';

/** The Helm chart's folder. */
export const CHART_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'charts', 'ssm-agent-operator');

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

let helmBinPromise: Promise<string> | undefined;
let helmHome: string | undefined;

/** The helm binary: ensureTools() once per process (memoised; retried after a failure). */
export function helmBinary(): Promise<string> {
  helmBinPromise ??= ensureTools().then((bin) => {
    const helm = path.join(bin, 'helm');
    if (!existsSync(helm)) throw new Error(`helm is missing from ${bin}`);
    return helm;
  });
  helmBinPromise.catch(() => {
    helmBinPromise = undefined;
  });
  return helmBinPromise;
}

/** The private Helm home, made once per process and removed when it exits. */
function privateHelmHome(): string {
  if (helmHome === undefined) {
    const home = mkdtempSync(path.join(tmpdir(), 'ssm-helm-home-'));
    helmHome = home;
    process.once('exit', () => rmSync(home, { recursive: true, force: true }));
  }
  return helmHome;
}

/** Runs helm with args; resolves with its exit code and output (never rejects on a non-zero exit). */
export async function runHelm(args: string[]): Promise<HelmResult> {
  const bin = await helmBinary();
  const home = privateHelmHome();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
  return new Promise((resolve) => {
    execFile(bin, args, { env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}
