// The README's main command must keep working: the demo runs end to end and leaves nothing behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../harness/operator-env.ts';

test('npm run demo runs its whole story and exits 0', () => {
  const r = spawnSync(process.execPath, [join(REPO, 'test', 'demo', 'run-demo.ts')], { cwd: REPO, encoding: 'utf8', timeout: 300_000, env: { ...process.env, NO_COLOR: '1' } });
  const output = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, output.split('\n').slice(-30).join('\n'));
  for (const step of ['1. A local control plane', '3. A first SsmAgentConfig', '4. Validation happens in the API server', '5. Two configs may never cover the same node', '6. Drift repair', '7. A spec change rolls out', '8. Delete the configs']) {
    assert.ok(output.includes(step), `the demo shows "${step}"`);
  }
  assert.match(output, /no process left/);
  assert.match(output, /Demo finished/);
});
