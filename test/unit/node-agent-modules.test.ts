// What the node-agent and operator processes load at start. The node agent runs on every node, so a module it
// never uses is paid thousands of times. Node's own bundled undici (internal/deps/undici, about 5 MiB of RSS: a 745 KiB source
// string and its code) is loaded by any ESM `import … from 'node:http'`: building the ESM namespace of the builtin
// reads every export, and http's WebSocket/CloseEvent/MessageEvent are lazy getters into that bundle.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** The builtin modules a process entry point has loaded when its settings check refuses its environment (exit 2). */
function modulesAtSettingsCheck(entry: string, env: NodeJS.ProcessEnv): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'entry-modules-'));
  try {
    const out = join(dir, 'modules.txt');
    const preload = join(dir, 'preload.mjs');
    writeFileSync(preload, `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join('\\n')));\n`);
    const r = spawnSync(process.execPath, ['--import', preload, join(REPO, entry)], { cwd: REPO, env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, `${entry} exited ${String(r.status ?? r.signal)}: ${r.stderr}`);
    return readFileSync(out, 'utf8').split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HINT = "an ESM import of node:http loads Node's bundled undici; use process.getBuiltinModule('node:http')";

test("the node agent loads its static modules without Node's bundled undici", (t) => {
  // HOST_PID=0 is refused after every static import has loaded.
  const loaded = modulesAtSettingsCheck('node-agent/main.ts', { HOST_PID: '0' });
  t.diagnostic(`${loaded.length} builtin modules and bindings loaded`);
  assert.ok(loaded.includes('NativeModule http'), 'the list is the node agent’s (it serves /metrics over http)');
  assert.deepEqual(loaded.filter((m) => m.includes('deps/undici')), [], HINT);
});

test("the operator loads its static modules without Node's bundled undici (it has undici's package for its own calls)", (t) => {
  // No POD_NAMESPACE: refused after every static import has loaded.
  const loaded = modulesAtSettingsCheck('operator/main.ts', {});
  t.diagnostic(`${loaded.length} builtin modules and bindings loaded`);
  assert.ok(loaded.includes('NativeModule http'), 'the list is the operator’s (it serves /metrics over http)');
  assert.deepEqual(loaded.filter((m) => m.includes('deps/undici')), [], HINT);
});
