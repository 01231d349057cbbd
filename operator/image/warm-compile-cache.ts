// Fills Node's compile cache (NODE_COMPILE_CACHE) with the type-stripped form of every module of the two
// processes, at image build time. With the cache warm, a process never loads Node's TypeScript stripper (amaro,
// WebAssembly), which otherwise stays resident: about 17 MiB of RSS per process, and every node pays it.
//
//   NODE_COMPILE_CACHE=/app/.node-compile-cache node operator/image/warm-compile-cache.ts [uid...]
//
// Node keys the cache directory by user id: pass every uid the processes run as (the node agent runs as root, the
// operator as 65532). The entry scripts are run with settings they refuse: they load all their static imports,
// then stop at their settings check (exit 2), which writes the cache; every other module is imported, so modules
// loaded on demand (OpenPGP's, the fleet client's) are cached too.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_AGENT_V8_FLAGS } from '../manifests/node-agent-runtime.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Scripts that act when imported, each with an environment its settings check refuses (it exits 2 there). */
// Each with the V8 flags it runs with: some flags (not these) change the cache's key.
const ENTRIES: [string, NodeJS.ProcessEnv, readonly string[]][] = [
  ['operator/main.ts', {}, []], // POD_NAMESPACE is required
  ['node-agent/main.ts', { HOST_PID: '0' }, NODE_AGENT_V8_FLAGS],
];
const NOT_IMPORTED = new Set([...ENTRIES.map(([f]) => f), 'operator/api/generate.ts', 'operator/image/warm-compile-cache.ts']);

const cacheDir = process.env.NODE_COMPILE_CACHE;
if (!cacheDir) {
  console.error('NODE_COMPILE_CACHE must name the cache directory');
  process.exit(2);
}
const uids = process.argv.slice(2).map(Number);
if (uids.some((u) => !Number.isInteger(u) || u < 0)) {
  console.error(`the arguments must be user ids: ${process.argv.slice(2).join(' ')}`);
  process.exit(2);
}

function modules(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return modules(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !NOT_IMPORTED.has(rel) ? [rel] : [];
  });
}
const all = [...modules('operator'), ...modules('node-agent')];
const importer = `for (const f of ${JSON.stringify(all.map((f) => join(ROOT, f)))}) await import(f);`;

for (const uid of uids.length > 0 ? uids : [process.getuid?.() ?? 0]) {
  const run = (args: string[], env: NodeJS.ProcessEnv, expect: number) => {
    const r = spawnSync(process.execPath, args, { cwd: ROOT, env: { NODE_COMPILE_CACHE: cacheDir, ...env }, uid, gid: uid, encoding: 'utf8' });
    if (r.status !== expect) {
      console.error(`uid ${uid}: node ${args.join(' ').slice(0, 80)} exited ${String(r.status ?? r.signal)} (expected ${expect}):\n${r.stderr}`);
      process.exit(1);
    }
  };
  run(['--input-type=module', '-e', importer], {}, 0);
  for (const [entry, env, flags] of ENTRIES) run([...flags, entry], env, 2);
  process.stdout.write(`compile cache warm for uid ${uid}: ${all.length + ENTRIES.length} modules in ${cacheDir}\n`);
}
