// What the node-agent and operator processes load at start. The node agent runs on every node, so a module it
// never uses is paid thousands of times. Node's own bundled undici (internal/deps/undici, about 5 MiB of RSS: a 745 KiB source
// string and its code) is loaded by any ESM `import … from 'node:http'`: building the ESM namespace of the builtin
// reads every export, and http's WebSocket/CloseEvent/MessageEvent are lazy getters into that bundle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadedAtSettingsCheck } from '../harness/entry-modules.ts';

const HINT = "an ESM import of node:http loads Node's bundled undici; use process.getBuiltinModule('node:http')";

test("the node agent loads its static modules without Node's bundled undici", (t) => {
  // HOST_PID=0 is refused after every static import has loaded.
  const loaded = loadedAtSettingsCheck('node-agent/main.ts', { HOST_PID: '0' }).builtins;
  t.diagnostic(`${loaded.length} builtin modules and bindings loaded`);
  assert.ok(loaded.includes('NativeModule http'), 'the list is the node agent’s (it serves /metrics over http)');
  assert.deepEqual(loaded.filter((m) => m.includes('deps/undici')), [], HINT);
});

test("the operator loads its static modules without Node's bundled undici (it has undici's package for its own calls)", (t) => {
  // No POD_NAMESPACE: refused after every static import has loaded.
  const loaded = loadedAtSettingsCheck('operator/main.ts', {}).builtins;
  t.diagnostic(`${loaded.length} builtin modules and bindings loaded`);
  assert.ok(loaded.includes('NativeModule http'), 'the list is the operator’s (it serves /metrics over http)');
  assert.deepEqual(loaded.filter((m) => m.includes('deps/undici')), [], HINT);
});

// prom-client's index loads, besides the metric types, its default metrics (whose CPU counter loads
// @opentelemetry/api for exemplars), the Pushgateway and the cluster aggregator: +17 MiB of RSS in a process that
// uses none of them (a bare Node 41.7 MiB; with the index 62.6, with the metric types alone 45.0).
const UNUSED_PACKAGE_FILES = [/node_modules\/@opentelemetry\//, /prom-client\/index\.js$/, /prom-client\/lib\/pushgateway\.js$/, /prom-client\/lib\/cluster\.js$/];

for (const [name, entry, env] of [
  ['the node agent', 'node-agent/main.ts', { HOST_PID: '0' }],
  ['the operator', 'operator/main.ts', {}],
] as const) {
  test(`${name} loads prom-client's metric types, not its index (OpenTelemetry, Pushgateway, cluster aggregator)`, (t) => {
    const { packageFiles } = loadedAtSettingsCheck(entry, env);
    t.diagnostic(`${packageFiles.length} package files loaded through CommonJS`);
    assert.ok(packageFiles.some((f) => f.endsWith('prom-client/lib/registry.js')), 'the list holds the registry it serves /metrics from');
    assert.deepEqual(packageFiles.filter((f) => UNUSED_PACKAGE_FILES.some((re) => re.test(f))), [], 'import metric types from operator/lib/prom.ts');
  });
}
