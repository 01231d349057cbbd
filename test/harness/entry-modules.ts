// What a process entry point has loaded when its settings check refuses its environment (exit 2): the builtin
// modules and bindings, and the files of packages loaded through CommonJS (prom-client, pino, ws, undici, …).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

export function loadedAtSettingsCheck(entry: string, env: NodeJS.ProcessEnv): { builtins: string[]; packageFiles: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'entry-modules-'));
  try {
    const out = join(dir, 'modules.json');
    const preload = join(dir, 'preload.mjs');
    writeFileSync(
      preload,
      `import { writeFileSync } from 'node:fs';\nimport { createRequire } from 'node:module';\nconst { cache } = createRequire(import.meta.url);\n` +
        `process.on('exit', () => writeFileSync(${JSON.stringify(out)}, JSON.stringify({ builtins: process.moduleLoadList, packageFiles: Object.keys(cache) })));\n`,
    );
    const r = spawnSync(process.execPath, ['--import', preload, join(REPO, entry)], { cwd: REPO, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${entry} exited ${String(r.status ?? r.signal)}: ${r.stderr}`);
    return JSON.parse(readFileSync(out, 'utf8')) as { builtins: string[]; packageFiles: string[] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
