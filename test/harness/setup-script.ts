// The set-up scripts in test/tools (ensure-tools.sh, ensure-rootfs.sh) print their progress on stderr and their
// result, a path, as the last line on stdout. A first run may build for minutes; later runs only print the path.
import { spawn } from 'node:child_process';

const runs = new Map<string, Promise<string>>();

/**
 * Runs the bash script at `path` once per process and resolves with the last line it printed on stdout. Its stderr
 * is streamed to ours (a first build is worth watching). Memoised per script; a failed run is forgotten, so the
 * next call tries again.
 */
export function runSetupScriptOnce(path: string, args: readonly string[] = []): Promise<string> {
  const key = [path, ...args].join('\0');
  let run = runs.get(key);
  if (run === undefined) {
    const started = runSetupScript(path, args);
    started.catch(() => {
      if (runs.get(key) === started) runs.delete(key);
    });
    runs.set(key, started);
    run = started;
  }
  return run;
}

function runSetupScript(path: string, args: readonly string[]): Promise<string> {
  return new Promise<string>((resolvePromise, reject) => {
    const child = spawn('bash', [path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      process.stderr.write(d);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const result = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && result !== '') resolvePromise(result);
      else reject(new Error(`${[path, ...args].join(' ')} failed (code ${String(code)}):\n${stderr.split('\n').slice(-30).join('\n')}`));
    });
  });
}
