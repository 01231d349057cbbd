// The README's main command must keep working: `npm run demo` tells its whole story on the real cluster, exits 0
// and leaves nothing behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../harness/operator-env.ts';

test('npm run demo runs its whole story on the real cluster and exits 0', async () => {
  const child = spawn(process.execPath, [join(REPO, 'test', 'demo', 'cluster-demo.ts')], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), 540_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, output.split('\n').slice(-40).join('\n'));
  for (const step of ['1. A real cluster', '2. helm install', '3. Apply an SsmAgentConfig', '4. What each host', '5. One node', '6. A version change rolls out', '7. A node is lost', '8. Clean up']) {
    assert.ok(output.includes(step), `the demo shows "${step}"`);
  }
  assert.match(output, /3\.3\.1142\.0 → 3\.3\.1200\.0/);
  assert.match(output, /InstanceDeregistered/);
  assert.match(output, /no process left/);
  assert.match(output, /Demo finished/);
});
