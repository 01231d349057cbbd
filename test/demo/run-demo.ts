// The local demo (`npm run demo`): a real kube-apiserver, etcd and DaemonSet controller on this machine, the real
// operator process, and the samples in examples/ — a short story told in eight steps, under a minute long.
//
// No kubelet runs, so node-agent pods are created but never start; everything the operator does with the API
// (DaemonSets, status, conditions, events, finalizers, drift repair) is real. Every wait is bounded; a failure or
// Ctrl-C stops every process the demo started. The logs stay in a temp folder whose path is printed at the end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startControlPlane, type ControlPlane, type KubectlResult } from '../harness/control-plane.ts';
import { describeExit, logTail, pidAlive, sleep } from '../harness/managed-process.ts';
import { CRD_FILE, NAMESPACE, REPO } from '../harness/operator-env.ts';
import { startOperatorProcess, type OperatorProcess } from '../harness/operator-process.ts';
import { bold, dim, elapsed, green, indent, note, red, say, section, yellow } from './output.ts';

const EXAMPLES = join(REPO, 'examples');
const WAIT_MS = 30_000;
const POLL_MS = 250;
const NODE_AGENT_IMAGE = 'ghcr.io/ssm-agent-operator/ssm-agent-operator:0.1.0';
const PINNED_VERSION = '3.3.1142.0';
const CONFIG_HASH = 'ssmagent.io/revision';
const EVENTS_SELECTOR = 'involvedObject.kind=SsmAgentConfig';

/** A path as a user in the repo would type it. */
function shown(arg: string): string {
  return arg.startsWith(REPO) ? relative(REPO, arg) : arg;
}

function quote(arg: string): string {
  return /^[\w./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

// ---------------------------------------------------------------------------------------------------------------
// State and cleanup

class DemoError extends Error {}

let demoDir = '';
let operatorLog = '';
let cp: ControlPlane | undefined;
let operator: OperatorProcess | undefined;
let interrupted = false;
let cleaning: Promise<void> | undefined;

/** Stops the operator, then the control plane; idempotent and bounded. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const results = await Promise.allSettled([operator?.stop(30_000)]);
    results.push(...(await Promise.allSettled([cp?.stop()])));
    for (const r of results) if (r.status === 'rejected') console.error(red(`cleanup: ${String(r.reason)}`));
  })();
  return cleaning;
}

let firstSignalAt = 0;
function onSignal(signal: NodeJS.Signals): void {
  const now = Date.now();
  if (interrupted) {
    // Ctrl-C reaches this process twice at once (from the terminal and forwarded by npm): only a later, second
    // Ctrl-C means "stop now". The exit hooks of the harness then SIGKILL every server still running.
    if (now - firstSignalAt > 2_000) {
      console.error(red('\nSecond interrupt: killing everything now.'));
      process.exit(130);
    }
    return;
  }
  interrupted = true;
  firstSignalAt = now;
  console.error(yellow(`\n${signal}: stopping the operator and the control plane… (Ctrl-C again to kill them at once)`));
  const force = setTimeout(() => process.exit(130), 45_000);
  force.unref();
  void cleanup().finally(() => {
    if (demoDir) console.error(`Logs kept in ${demoDir}`);
    process.exit(130);
  });
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

// ---------------------------------------------------------------------------------------------------------------
// kubectl and waiting

function controlPlane(): ControlPlane {
  if (!cp) throw new DemoError('the control plane is not running');
  return cp;
}

/** Runs kubectl quietly; throws unless it succeeds (or `allowFail`). */
async function kubectlQuiet(args: string[], opts: { allowFail?: boolean } = {}): Promise<KubectlResult> {
  const r = await controlPlane().kubectl(args);
  if (r.code !== 0 && !opts.allowFail) {
    throw new DemoError(`kubectl ${args.map(shown).map(quote).join(' ')} failed (exit ${r.code}):\n${r.stderr.trim()}`);
  }
  return r;
}

/** Runs kubectl the way a user would type it, and prints the command and what it printed. */
async function kubectl(args: string[], opts: { expectFailure?: boolean } = {}): Promise<KubectlResult> {
  say(`\n  ${bold('$')} ${bold(`kubectl ${args.map(shown).map(quote).join(' ')}`)}`);
  const r = await controlPlane().kubectl(args);
  const out = [r.stdout, r.stderr].filter((s) => s.trim() !== '').join('\n');
  if (out) say(indent(out));
  if (opts.expectFailure) {
    if (r.code === 0) throw new DemoError(`expected kubectl ${args.map(shown).join(' ')} to be rejected, but it succeeded`);
  } else if (r.code !== 0) {
    throw new DemoError(`kubectl ${args.map(shown).join(' ')} failed with exit code ${r.code}`);
  }
  return r;
}

/** An object as JSON, or undefined when it does not exist. */
async function getJson<T>(args: string[]): Promise<T | undefined> {
  const r = await kubectlQuiet(['get', ...args, '--ignore-not-found', '-o', 'json']);
  return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as T);
}

/** Polls until `check` returns a value; bounded. Fails at once if the operator has exited. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (interrupted) throw new DemoError('interrupted');
    const exit = operator?.proc.exitStatus();
    if (exit) throw new DemoError(`the operator ${describeExit(exit)} while waiting for ${what}; last lines of ${operatorLog}:\n${logTail(operatorLog, 20)}`);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(POLL_MS);
  }
  throw new DemoError(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
}

// ---------------------------------------------------------------------------------------------------------------
// The objects the demo reads

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface Config {
  metadata: { name: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[]; nodes?: { desired?: number }; rollout?: { updated?: number; state?: string } };
}

interface DaemonSet {
  metadata: { uid: string; generation?: number };
  spec: { template: { metadata?: { annotations?: Record<string, string> } } };
  status?: { observedGeneration?: number; desiredNumberScheduled?: number };
}

interface List<T> {
  items: T[];
}

const dsName = (config: string) => `ssm-node-agent-${config}`;
const getConfig = (name: string) => getJson<Config>(['ssmagentconfig', name]);
const getDaemonSet = (config: string) => getJson<DaemonSet>(['daemonset', dsName(config), '-n', NAMESPACE]);
const condition = (c: Config | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);
const hashOf = (ds: DaemonSet) => ds.spec.template.metadata?.annotations?.[CONFIG_HASH] ?? '(none)';

function printConditions(config: Config): void {
  const rows = (config.status?.conditions ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '']);
  const table = [['TYPE', 'STATUS', 'REASON', 'MESSAGE'], ...rows];
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  for (const row of table) say(`    ${row.map((cell, i) => (i < 3 ? cell.padEnd((widths[i] ?? 0) + 2) : cell)).join('')}`);
}

/** The example's YAML without its comments: what the user applies. */
function showExample(file: string): void {
  const body = readFileSync(join(EXAMPLES, file), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  say(dim(`\n  examples/${file}:`));
  say(dim(indent(body)));
}

/**
 * What the operator's finalizer deleted, per config, from its JSON log. One entry per config: a finalizer pass may
 * be repeated, harmlessly, when the operator's cache lags a moment behind.
 */
function finalizerPasses(logPath: string): Map<string, string[]> {
  const passes = new Map<string, string[]>();
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    let entry: { msg?: string; config?: string; deleted?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // the header line written by the process launcher
    }
    if (entry.msg !== 'config deleted; owned objects removed' || !entry.config || passes.has(entry.config)) continue;
    passes.set(entry.config, Array.isArray(entry.deleted) ? entry.deleted.map(String) : []);
  }
  return passes;
}

// ---------------------------------------------------------------------------------------------------------------
// The story

/** Starts `node operator/main.ts`; resolves once /readyz answers (bounded; fails at once if the process exits). */
async function startOperator(kubeconfigPath: string): Promise<OperatorProcess> {
  const op = await startOperatorProcess({ kubeconfigPath, logPath: operatorLog, nodeAgentImage: NODE_AGENT_IMAGE, waitReady: false });
  operator = op; // from now on a failure or Ctrl-C stops it
  try {
    await op.waitReady(WAIT_MS);
  } catch (err) {
    throw new DemoError(interrupted ? 'interrupted' : `the operator did not report ready on /readyz: ${(err as Error).message}`);
  }
  return op;
}

async function main(): Promise<void> {
  say(bold('ssm-agent-operator: the local demo'));
  say(
    [
      'A real etcd, kube-apiserver and DaemonSet controller start on 127.0.0.1, the operator runs against them, and',
      'the samples in examples/ are applied. It takes under a minute. The first run on a machine builds',
      'kube-apiserver, kube-controller-manager and etcd from source with Go (cached afterwards): that can take',
      'many minutes, and the build progress is printed below. Ctrl-C stops everything at any time.',
    ].join('\n'),
  );

  const probe = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) throw new DemoError('kubectl is not on PATH: install kubectl (any recent version) and run the demo again.');

  demoDir = mkdtempSync(join(tmpdir(), 'ssm-agent-operator-demo-'));
  operatorLog = join(demoDir, 'operator.log');

  // 1 ------------------------------------------------------------------------------------------------------------
  section('1. A local control plane with four nodes');
  say('Starting etcd, kube-apiserver and kube-controller-manager (only the DaemonSet, garbage-collector and');
  say('ServiceAccount controllers; no scheduler, no kubelet)…');
  cp = await startControlPlane({ controllerManager: true, logDir: demoDir });
  say(`${green('✓')} API server at ${cp.server}  ${dim(`(KUBECONFIG=${cp.kubeconfigPath} while the demo runs)`)}`);
  await kubectl(['apply', '--server-side', '-f', CRD_FILE]);
  await kubectlQuiet(['wait', '--for=condition=Established', '--timeout=30s', 'crd/ssmagentconfigs.ssmagent.io']);
  await waitFor('the SsmAgentConfig API to be served', async () => ((await kubectlQuiet(['get', 'ssmagentconfigs'], { allowFail: true })).code === 0 ? true : undefined));
  await kubectl(['create', 'namespace', NAMESPACE]);
  const nodes: { name: string; pool: string; taint?: boolean }[] = [
    { name: 'web-1', pool: 'web' },
    { name: 'web-2', pool: 'web' },
    { name: 'db-1', pool: 'db' },
    { name: 'db-2', pool: 'db', taint: true },
  ];
  for (const n of nodes) {
    await cp.addNode(n.name, { labels: { pool: n.pool }, taints: n.taint ? [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] : [] });
  }
  say('\nFour Nodes registered as a kubelet would (Ready, but no kubelet really runs on them):');
  await kubectl(['get', 'nodes', '-o', 'custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,POOL:.metadata.labels.pool,TAINTS:.spec.taints[*].key']);

  // 2 ------------------------------------------------------------------------------------------------------------
  section('2. Start the operator');
  const { pid, port } = await startOperator(cp.kubeconfigPath);
  say(`${green('✓')} node operator/main.ts is running (pid ${pid}); /readyz answers on http://127.0.0.1:${port}`);
  say(dim(`  its JSON logs go to ${operatorLog}; metrics at http://127.0.0.1:${port}/metrics`));

  // 3 ------------------------------------------------------------------------------------------------------------
  section('3. A first SsmAgentConfig: the web nodes');
  showExample('basic.yaml');
  await kubectl(['apply', '-f', join(EXAMPLES, 'basic.yaml')]);
  const web = await waitFor('config "web" to report its rollout', async () => {
    const c = await getConfig('web');
    // No kubelet here: the pods are created on the new revision but never become ready (converged), so the
    // rollout reports RollingOut with both nodes updated and none converged.
    const rollout = c?.status?.rollout;
    const settled = c?.status?.observedGeneration === c?.metadata.generation && c?.status?.nodes?.desired === 2 && rollout?.updated === 2 && condition(c, 'Progressing') !== undefined;
    return settled ? c : undefined;
  });
  await kubectl(['get', 'sac']);
  say('\nThe operator created a DaemonSet (with its ServiceAccount, RBAC and ConfigMap) that selects the pool=web nodes:');
  await kubectl(['get', 'ds', '-n', NAMESPACE, '-o', 'wide']);
  say(`\n  ${bold('$')} ${bold('kubectl get sac web -o json')}  ${dim('# .status.conditions, as a table')}`);
  printConditions(web);
  const ready = condition(web, 'Ready');
  note(
    `Ready is ${ready?.status ?? '?'} (${ready?.reason ?? '?'}) because no kubelet runs in this demo: the DaemonSet's pods are created but never start, ` +
      'so no host converges to the revision and the rollout stays RollingOut. On a real cluster it turns True once every host converged (installed, registered, running).',
  );
  await waitFor('the events about config "web"', async () => {
    const events = await getJson<List<unknown>>(['events', '-n', 'default', '--field-selector', `${EVENTS_SELECTOR},involvedObject.name=web`]);
    return (events?.items.length ?? 0) >= 2 ? true : undefined;
  }, 10_000).catch(() => undefined); // events are best effort: show whatever is there
  await kubectl(['get', 'events', '-n', 'default', '--field-selector', EVENTS_SELECTOR]);

  // 4 ------------------------------------------------------------------------------------------------------------
  section('4. Validation happens in the API server');
  showExample('invalid.yaml');
  await kubectl(['apply', '-f', join(EXAMPLES, 'invalid.yaml')], { expectFailure: true });
  note('Rejected at apply time by CEL rules in the CRD (no webhook to install): nothing was stored.');

  // 5 ------------------------------------------------------------------------------------------------------------
  section('5. Two configs may never cover the same node');
  showExample('everything.yaml');
  await kubectl(['apply', '-f', join(EXAMPLES, 'everything.yaml')]);
  const everything = await waitFor('config "everything" to be Conflicted', async () => {
    const c = await getConfig('everything');
    return condition(c, 'Conflicted')?.status === 'True' ? c : undefined;
  });
  await kubectl(['get', 'sac']);
  say(`\n  ${bold('$')} ${bold(`kubectl get sac everything -o jsonpath='{.status.conditions[?(@.type=="Conflicted")].message}'`)}`);
  say(indent(condition(everything, 'Conflicted')?.message ?? ''));
  if (await getDaemonSet('everything')) throw new DemoError(`a Conflicted config must own no DaemonSet, but ${dsName('everything')} exists`);
  say('\nStill one DaemonSet only, for "web"; none for the conflicted "everything":');
  await kubectl(['get', 'ds', '-n', NAMESPACE]);
  note('"everything" selects every untainted node (web-1, web-2, db-1; db-2 is tainted), so it overlaps "web" and, being newer, runs nothing.');

  // 6 ------------------------------------------------------------------------------------------------------------
  section('6. Drift repair: delete the DaemonSet by hand');
  const before = await waitFor(`DaemonSet ${dsName('web')}`, () => getDaemonSet('web'));
  await kubectl(['delete', 'ds', dsName('web'), '-n', NAMESPACE]);
  const t0 = Date.now();
  const recreated = await waitFor(`the operator to recreate DaemonSet ${dsName('web')}`, async () => {
    const ds = await getDaemonSet('web');
    return ds && ds.metadata.uid !== before.metadata.uid ? ds : undefined;
  });
  say(`\n  old DaemonSet uid: ${before.metadata.uid}`);
  say(`  new DaemonSet uid: ${recreated.metadata.uid}`);
  note(`The operator watches what it owns and put the DaemonSet back within ${((Date.now() - t0) / 1000).toFixed(1)} s.`);

  // 7 ------------------------------------------------------------------------------------------------------------
  section('7. A spec change rolls out');
  const hashBefore = hashOf(recreated);
  await kubectl(['patch', 'sac', 'web', '--type=merge', '-p', JSON.stringify({ spec: { agent: { version: PINNED_VERSION } } })]);
  const changed = await waitFor('the DaemonSet template to carry the new configuration', async () => {
    const ds = await getDaemonSet('web');
    return ds && hashOf(ds) !== hashBefore ? ds : undefined;
  });
  await waitFor('config "web" to observe the new generation', async () => {
    const c = await getConfig('web');
    return c?.status?.observedGeneration !== undefined && c.status.observedGeneration === c.metadata.generation ? true : undefined;
  });
  await kubectl(['get', 'sac', 'web']);
  say(`\n  ${CONFIG_HASH} before: ${hashBefore}`);
  say(`  ${CONFIG_HASH} after:  ${hashOf(changed)}`);
  note('A new pod-template annotation means the DaemonSet controller rolls the node agents, maxUnavailable at a time.');

  // 8 ------------------------------------------------------------------------------------------------------------
  section('8. Delete the configs: the finalizer cleans up');
  say('Each config carries the operator\'s finalizer, so it is not gone until the operator has cleaned up after it:');
  await kubectl(['get', 'sac', '-o', 'custom-columns=NAME:.metadata.name,FINALIZERS:.metadata.finalizers']);
  // The conflicted config goes first: deleting "web" first would, for a moment, hand its nodes to "everything".
  await kubectl(['delete', 'sac', 'everything', 'web', '--timeout=30s']);
  // What the configs owned carries their name; the operator's own objects (the fleet channel's CA) stay.
  const ownedSelector = 'app.kubernetes.io/managed-by=ssm-agent-operator,ssmagent.io/config';
  await waitFor('every object owned by the configs to be gone', async () => {
    const r = await kubectlQuiet(['get', 'ds,cm,sa', '-n', NAMESPACE, '-l', ownedSelector, '-o', 'name']);
    return r.stdout.trim() === '' ? true : undefined;
  });
  await kubectl(['get', 'ds,cm,sa', '-n', NAMESPACE, '-l', ownedSelector]);
  const deletions = finalizerPasses(operatorLog);
  if (deletions.size > 0) {
    say(dim('\n  from the operator log:'));
    for (const [config, deleted] of deletions) {
      say(dim(`    config ${config}: ${deleted.length > 0 ? `deleted ${deleted.join(', ')}` : 'owned nothing (it was Conflicted)'}`));
    }
  }
  note('The operator\'s finalizer removed the DaemonSet and everything else it owned before the configs went away.');

  // The end -----------------------------------------------------------------------------------------------------
  section('Shut down');
  const pids = [...cp.pids(), ...(operator ? [operator.pid] : [])];
  const op = operator;
  await op?.stop(30_000);
  const exit = op?.proc.exitStatus();
  say(`${green('✓')} operator stopped on SIGTERM (${exit ? describeExit(exit) : 'exit status unknown'})`);
  await cp.stop();
  const left = pids.filter((pid) => pidAlive(pid));
  if (left.length > 0) throw new DemoError(`processes still running after shutdown: ${left.join(', ')}`);
  say(`${green('✓')} etcd, kube-apiserver and kube-controller-manager stopped; no process left (pids ${pids.join(', ')})`);
  say(`\nLogs (kept; delete the folder when done):`);
  say(`  operator:       ${operatorLog}`);
  say(`  control plane:  ${join(demoDir, 'kube-apiserver.log')}, etcd.log, kube-controller-manager.log`);
  say(`\n${bold(green(`Demo finished in ${elapsed()}.`))} Next: README.md (install with Helm), examples/ for more samples.`);
}

try {
  await main();
  process.exit(0);
} catch (err) {
  if (!interrupted) {
    const message = err instanceof DemoError ? err.message : (err as Error).stack ?? String(err);
    console.error(`\n${red(bold('✗ The demo failed:'))} ${message}`);
    await cleanup();
    if (demoDir) console.error(`\nLogs kept in ${demoDir} (operator.log, kube-apiserver.log, etcd.log, kube-controller-manager.log).`);
    process.exit(1);
  }
  // interrupted: the signal handler cleans up and exits
  await cleanup();
}
