// `ssm-agent-operator diagnose` as a user runs it, on the real cluster: the CLI (operator/cli/main.ts) with a
// kubeconfig of its own reaches the leader through the API server's pod proxy, the leader asks the node's agent for
// a probe over the fleet channel, and the printed facts are checked against the host itself (its agent version
// from dpkg, its mi- id from the agent's own registration file) and against a real probe of the SSM emulator's
// endpoint. A user without the `diagnose` verb is refused by the operator's SubjectAccessReview.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { exposeInNamespace, type Forward } from '../harness/cluster/forwarder.ts';
import { hybridConfigYaml, NAMESPACE, startProductCluster, type ProductCluster } from '../harness/cluster/product.ts';
import { waitFor } from '../harness/wait.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'operator', 'cli', 'main.ts');
const V1 = '3.3.1142.0';
const CONFIG = 'fleet';
let p: ProductCluster;
let work: string;
let https443: Forward | undefined;

interface SacStatus {
  nodes?: { registered?: number };
}

function cli(args: string[], kubeconfig: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args, '--kubeconfig', kubeconfig], { timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** A kubeconfig for a ServiceAccount's token: a user of its own, as a person's kubeconfig would be. */
async function kubeconfigFor(sa: string): Promise<string> {
  await p.kubectl(['create', 'serviceaccount', sa, '-n', 'default']);
  const token = (await p.kubectl(['create', 'token', sa, '-n', 'default', '--duration', '1h'])).trim();
  const kc = p.cluster.controlPlane.kubeConfigForToken(token, sa);
  const file = join(work, `${sa}.kubeconfig`);
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssm-diagnose-'));
  p = await startProductCluster({ versions: [V1] });
  // The SSM emulator on the fabric's port 443, so the nodes' ssm probe reaches a real server (plain HTTP: the TLS
  // phase fails, which the diagnosis must show as such).
  https443 = await exposeInNamespace({ netns: p.cluster.network.fabric, dir: work, name: 'ssm-443', host: p.cluster.network.fabricAddress, port: 443, localPort: Number(new URL(p.emulator.url).port) });
  await p.helmInstall();
  const config = hybridConfigYaml(p, { name: CONFIG, version: V1, deletionPolicy: 'Retain' }) + `  endpoints: {ssm: "${p.cluster.network.fabricAddress}"}\n`;
  await p.kubectl(['apply', '-f', '-'], config);
  await waitFor(
    'every node registered',
    async () => ((JSON.parse(await p.kubectl(['get', 'sac', CONFIG, '-o', 'json'])) as { status?: SacStatus }).status?.nodes?.registered ?? 0) === p.nodeNames.length,
    300_000,
  );
  await p.kubectl(['apply', '-f', join(ROOT, 'examples', 'rbac', 'diagnose.yaml')]);
});

after(async () => {
  // The cluster first: its nodes hold connections through the forwarder, whose close waits for them.
  await p?.stop();
  await https443?.close().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

test('diagnose NODE prints the host agent version, its mi- id and a fresh probe of the SSM endpoint by phase', async (t) => {
  const alice = await kubeconfigFor('alice');
  await p.kubectl(['create', 'clusterrolebinding', 'alice-ssm-diagnose', '--clusterrole=ssm-agent-operator-diagnose', '--serviceaccount=default:alice']);
  await p.kubectl(['create', 'rolebinding', 'alice-ssm-diagnose', '-n', NAMESPACE, '--role=ssm-agent-operator-diagnose', '--serviceaccount=default:alice']);
  const node = p.nodeNames[1] as string;
  const [version, instanceId] = await Promise.all([p.host.agentVersion(node), p.host.instanceId(node)]);
  assert.equal(version, V1, 'the host runs the pinned agent (read with dpkg inside the node)');
  assert.match(instanceId ?? '', /^mi-[0-9a-f]+$/);
  const r = await cli(['diagnose', node], alice);
  t.diagnostic(r.stdout);
  assert.equal(r.code, 0, `diagnose exited ${r.code}: ${r.stderr}`);
  const out = r.stdout;
  assert.match(out, new RegExp(`^Node\\s+${node}\\s+config ${CONFIG}, node agent \\S+, connected; probed just now$`, 'm'));
  assert.match(out, /^Host\s+Debian GNU\/Linux \d+ \(\w+\), amd64, dpkg, not EC2$/m);
  assert.match(out, new RegExp(`^Agent\\s+amazon-ssm-agent ${V1.replace(/\./g, '\\.')} \\(desired ${V1.replace(/\./g, '\\.')}\\), service active$`, 'm'));
  assert.match(out, new RegExp(`^Registration\\s+${instanceId} in eu-west-1 \\(hybrid\\); the Node annotation agrees$`, 'm'));
  for (const step of ['detect', 'install', 'configure', 'register']) assert.match(out, new RegExp(`^ {2}${step}\\s+(ok|changed|skipped)`, 'm'), `step ${step} listed`);
  // The emulator's endpoint, probed now: DNS (an address) and TCP timed, TLS refused by a plain-HTTP server.
  const fabric = p.cluster.network.fabricAddress.replace(/\./g, '\\.');
  assert.match(out, new RegExp(`^ {2}ssm\\s+${fabric}\\s+direct\\s+\\S+ ms\\s+\\S+ ms\\s+FAIL\\s+-\\s+FAIL tls_handshake$`, 'm'));
  assert.match(out, /^\s+fix: TLS broke off/m);
  // The other endpoints do not resolve on this machine (no route off it): dns fails first.
  assert.match(out, /^ {2}ec2messages\s+ec2messages\.eu-west-1\.amazonaws\.com\s+direct\s+FAIL\s+-\s+-\s+-\s+FAIL dns$/m);
  assert.ok(!out.includes(String.fromCharCode(27)), 'no colour codes when not a TTY');

  const json = await cli(['diagnose', node, '-o', 'json'], alice);
  const d = JSON.parse(json.stdout) as { probe: string; probes: { endpoint: string; phases?: Record<string, number> }[] };
  assert.equal(d.probe, 'fresh');
  assert.ok((d.probes.find((x) => x.endpoint === 'ssm')?.phases?.tcp ?? -1) >= 0, 'the tcp phase of the ssm probe is timed');

  const all = await cli(['diagnose', '--all'], alice);
  t.diagnostic(all.stdout);
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trim().split('\n');
  assert.match(lines[0] ?? '', /^NODE\s+CONFIG\s+AGENT\s+INSTANCE\s+STATE$/);
  for (const n of p.nodeNames) {
    const id = await p.host.instanceId(n);
    assert.match(all.stdout, new RegExp(`^${n}\\s+${CONFIG}\\s+${V1.replace(/\./g, '\\.')}\\s+${id}\\s+FAILING: ssm: tls_handshake; ec2messages: dns`, 'm'));
  }
  assert.match(lines.at(-1) ?? '', new RegExp(`^${p.nodeNames.length} nodes: ${p.nodeNames.length} failing, 0 ok`));
});

test('a user without the diagnose verb is refused by the operator, with what to grant', async () => {
  const bob = await kubeconfigFor('bob');
  // bob may reach the endpoint (the Role) but lacks `diagnose` on the configs: the operator's SubjectAccessReview says no.
  await p.kubectl(['create', 'rolebinding', 'bob-ssm-proxy', '-n', NAMESPACE, '--role=ssm-agent-operator-diagnose', '--serviceaccount=default:bob']);
  const node = p.nodeNames[0] as string;
  const r = await cli(['diagnose', node], bob);
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout, '', 'nothing about the node is printed');
  assert.match(r.stderr, new RegExp(`system:serviceaccount:default:bob may not diagnose the SsmAgentConfig ${CONFIG}: grant the verb "diagnose" on ssmagentconfigs\\.ssmagent\\.io`));
  const all = await cli(['diagnose', '--all'], bob);
  assert.notEqual(all.code, 0);
  assert.match(all.stderr, /may not diagnose every SsmAgentConfig \(--all\)/);
  // And a user with no rights at all is stopped by the API server before the operator.
  const carol = await kubeconfigFor('carol');
  const c = await cli(['diagnose', node], carol);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /cannot read the leader Lease .*forbidden/i);
});
