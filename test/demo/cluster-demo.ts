// The main demo (`npm run demo`): the product as users run it, on a real cluster on this machine — three kubelet
// nodes (systemd-nspawn, containerd), the chart installed with helm from the image built from the repository's
// Dockerfile, and what AWS would be (the SSM API emulator, a mirror of stand-in agent packages as large as the real
// one). A story in eight steps: the nodes join, the chart installs, a config is applied, the hosts install and
// register (the counts rise in `kubectl get sac`), the Node annotations appear, one node's diagnosis, a version
// change rolls out node by node, a node is lost and deregistered, and everything is cleaned up.
//
// Needs root (network namespaces, systemd-nspawn); says so and exits 2 otherwise. Every wait is bounded; a failure
// or Ctrl-C stops everything it started (the harness's processes die with this one).
import { existsSync } from 'node:fs';
import { hybridConfigYaml, NAMESPACE, RELEASE, startProductCluster, type ProductCluster } from '../harness/cluster/product.ts';
import { waitFor } from '../harness/wait.ts';
import { bold, dim, elapsed, green, indent, note, red, say, section, yellow } from './output.ts';

const V1 = '3.3.1142.0';
const V2 = '3.3.1200.0';
const CONFIG = 'fleet';
let p: ProductCluster | undefined;

async function kubectl(args: string[], input?: string): Promise<string> {
  if (!p) throw new Error('no cluster');
  say(`\n  ${bold('$')} ${bold(`kubectl ${args.join(' ')}`)}`);
  const out = await p.kubectl(args, input);
  if (out.trim()) say(indent(out));
  return out;
}

const configYaml = (version: string) => (p ? hybridConfigYaml(p, { name: CONFIG, version }) : '');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('The demo boots Kubernetes nodes with systemd-nspawn in network namespaces of its own: run it as root (sudo npm run demo).');
    process.exit(2);
  }
  section('1. A real cluster on this machine');
  say('Three nodes, each a systemd-nspawn container running containerd + kubelet + kube-proxy, joined to a control');
  say('plane in a network namespace of its own. The image is the repository\'s Dockerfile, built without a registry.');
  p = await startProductCluster({ versions: [V1, V2] });
  await kubectl(['get', 'nodes', '-o', 'wide']);
  note(`image ${p.cluster.images.appImage} (${(p.cluster.images.appImageBytes / 1024 / 1024).toFixed(0)} MiB archive), imported into every node's containerd`);

  section('2. helm install');
  say(`  $ helm install ${RELEASE} charts/ssm-agent-operator -n ${NAMESPACE} --set image.repository=… --set replicaCount=2 …`);
  const installed = await p.helmInstall();
  if (installed.code !== 0) throw new Error(`helm install failed: ${installed.stderr}`);
  await kubectl(['get', 'pods', '-n', NAMESPACE, '-o', 'wide']);
  note('Two operator replicas; one holds the Lease and reconciles, the other stands by.');

  section('3. Apply an SsmAgentConfig');
  say(indent(configYaml(V1)));
  await kubectl(['apply', '-f', '-'], configYaml(V1));
  say('\nThe operator creates a managed activation in "SSM" and a node-agent DaemonSet; each node agent installs the');
  say('agent on ITS host (nsenter into the node\'s PID 1), registers it, and reports over the fleet channel:');
  let lastLine = '';
  const n = p.nodeNames.length;
  await waitFor(
    'every node registered and Online',
    async () => {
      const line = (await p?.kubectl(['get', 'sac', CONFIG, '--no-headers']))?.trim() ?? '';
      if (line !== lastLine) {
        say(`    ${dim(elapsed().padStart(8))}  ${line}`);
        lastLine = line;
      }
      const s = JSON.parse((await p?.kubectl(['get', 'sac', CONFIG, '-o', 'json'])) ?? '{}') as { status?: { nodes?: { registered?: number; online?: number } } };
      return s.status?.nodes?.registered === n && s.status.nodes.online === n;
    },
    300_000,
    1_000,
  );
  await kubectl(['get', 'sac']);

  section('4. What each host now looks like (read inside each node, not from the node agent)');
  for (const node of p.nodeNames) {
    say(`    ${node}: amazon-ssm-agent ${await p.host.agentVersion(node)}, service ${(await p.host.serviceActive(node)) ? 'active' : 'inactive'}, ${await p.host.instanceId(node)}, registered ${await p.host.registrations(node)}×`);
  }
  await kubectl(['get', 'nodes', '-L', 'ssmagent.io/registered', '-o', 'custom-columns=NODE:.metadata.name,INSTANCE:.metadata.annotations.ssmagent\\.io/managed-instance-id,AGENT:.metadata.annotations.ssmagent\\.io/agent-version,REGISTERED:.metadata.labels.ssmagent\\.io/registered']);

  section('5. One node\'s diagnosis');
  const pod = (await p.kubectl(['get', 'pods', '-n', NAMESPACE, '-l', `ssmagent.io/config=${CONFIG}`, '--field-selector', `spec.nodeName=${p.nodeNames[0]}`, '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  const fetchIt = (path: string) => ['exec', '-n', NAMESPACE, pod, '--', 'node', '-e', `fetch('http://127.0.0.1:9464${path}').then(r => r.text()).then(t => process.stdout.write(t))`];
  await kubectl(fetchIt('/readyz'));
  const metrics = await p.kubectl(fetchIt('/metrics'));
  say(`\n  ${bold('$')} ${bold(`kubectl exec -n ${NAMESPACE} ${pod} -- … /metrics | grep -E '^ssm_(agent|endpoint_up)'`)}`);
  say(indent(metrics.split('\n').filter((l) => /^ssm_(agent_|endpoint_up)/.test(l)).join('\n')));
  note('The endpoints are down here on purpose: this machine reaches no AWS endpoint, and the probes say so (reason dns).');

  section('6. A version change rolls out, one node at a time');
  await kubectl(['apply', '-f', '-'], configYaml(V2));
  const changed = new Map<string, string>();
  await waitFor(
    'every host on the new version',
    async () => {
      for (const node of p?.nodeNames ?? []) {
        if (changed.has(node)) continue;
        if ((await p?.host.agentVersion(node)) === V2) {
          changed.set(node, elapsed());
          say(`    ${dim(elapsed().padStart(8))}  ${node}: ${V1} → ${V2}`);
        }
      }
      return changed.size === n;
    },
    600_000,
    500,
  );
  await p.kubectl(['rollout', 'status', `daemonset/ssm-node-agent-${CONFIG}`, '-n', NAMESPACE, '--timeout=300s']);
  await kubectl(['get', 'sac']);
  note('Each node agent is ready only once its host converged, so the DaemonSet moves to the next node only then.');

  section('7. A node is lost');
  const lost = p.nodeNames[n - 1] ?? '';
  const id = await p.host.instanceId(lost);
  say(`  (inside ${lost}) $ systemctl stop kubelet`);
  await p.cluster.node(lost).host.run(['systemctl', 'stop', 'kubelet']);
  await kubectl(['delete', 'node', lost]);
  await waitFor(`${id} deregistered`, () => (id ? p?.emulator.state.instance(id) === undefined : true), 120_000, 500);
  await kubectl(['get', 'events', '-n', 'default', '--field-selector', 'reason=InstanceDeregistered', '-o', 'custom-columns=REASON:.reason,MESSAGE:.message']);

  section('8. Clean up: the agent leaves the hosts, then the config, then the chart');
  await kubectl(['delete', 'sac', CONFIG, '--timeout=300s']);
  for (const node of p.nodeNames.slice(0, -1)) say(`    ${node}: amazon-ssm-agent ${(await p.host.agentVersion(node)) ?? 'not installed'}`);
  const un = await p.helm(['uninstall', RELEASE, '--namespace', NAMESPACE, '--wait']);
  if (un.code !== 0) throw new Error(`helm uninstall failed: ${un.stderr}`);
  say(`\n  $ helm uninstall ${RELEASE} -n ${NAMESPACE}\n    ${un.stdout.trim()}`);
  await p.stop();
  const left = p.cluster.nodes.filter((node) => existsSync(`/proc/${node.host.pid}`));
  if (left.length > 0) throw new Error(`nodes still running: ${left.map((x) => x.name).join(', ')}`);
  p = undefined;
  say(`${green('✓')} nodes halted, control plane stopped, namespaces removed; no process left`);
  say(`\n${bold(green(`Demo finished in ${elapsed()}.`))} Next: README.md (install with Helm, configuration, journeys).`);
}

let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) process.exit(130);
  stopping = true;
  console.error(yellow(`\n${signal}: stopping the cluster… (again to kill it at once)`));
  void (p?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  await main();
  process.exit(0);
} catch (err) {
  console.error(`\n${red(bold('✗ The demo failed:'))} ${(err as Error).stack ?? String(err)}`);
  await p?.stop().catch(() => undefined);
  process.exit(1);
}
