// Go's own no_proxy decision (golang.org/x/net/http/httpproxy, what amazon-ssm-agent uses) as a batch oracle: a
// tiny Go program (test/tools/httpproxy-check), built once into the tools cache, keyed by its source.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './operator-env.ts';

const SOURCE = join(REPO, 'test', 'tools', 'httpproxy-check');
const run = promisify(execFile);

/** The built oracle, or a reason it cannot be had here (no Go toolchain, no module). */
export async function ensureHttpproxyCheck(): Promise<{ bin: string } | { skip: string }> {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(SOURCE, f)));
  const cache = join(process.env.SSM_OPERATOR_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'ssm-agent-operator'), 'bin');
  const bin = join(cache, `httpproxy-check-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(bin)) return { bin };
  mkdirSync(cache, { recursive: true });
  try {
    await run('go', ['build', '-o', bin, '.'], { cwd: SOURCE, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' }, timeout: 10 * 60_000 });
  } catch (err) {
    return { skip: `cannot build test/tools/httpproxy-check with Go (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
  return { bin };
}

export type GoDecision = 'direct' | 'proxy' | 'error';

/** Go's decision for each (no_proxy, URL) pair, in order. */
export async function goProxyDecisions(bin: string, cases: readonly { noProxy: string; url: string }[]): Promise<GoDecision[]> {
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  child.stdin.end(cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const code = await done;
  if (code !== 0) throw new Error(`httpproxy-check exited ${code}`);
  const lines = out.trim().split('\n') as GoDecision[];
  if (lines.length !== cases.length) throw new Error(`httpproxy-check answered ${lines.length} lines for ${cases.length} cases`);
  return lines;
}
