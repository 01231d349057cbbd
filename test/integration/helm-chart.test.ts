// The Helm chart, checked with the real helm binary (built by test/tools/ensure-tools.sh): lint (strict), rendering,
// pod security, least-privilege RBAC, the values schema and the optional ServiceMonitor; then against a real
// kube-apiserver: the generated CRD and a server-side dry run of the rendered chart, and, installed for real, what
// the operator's ServiceAccount may and may not do (kubectl auth can-i, and RBAC's escalation check).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { CHART_DIR as chartDir, KUBE_VERSION, helmBinary, runHelm as helm } from '../harness/helm.ts';
import { isRecord, list, record, strings } from '../harness/shapes.ts';
import { OPERATOR_NODE_OPTIONS } from '../../operator/image/operator-runtime.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const crdFile = path.join(repoRoot, 'crds', 'ssmagent.io_ssmagentconfigs.yaml');
const RELEASE = 'ssm-agent-operator';
const NAMESPACE = 'ssm-system';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  raw: Record<string, unknown>;
}

let controlPlane: ControlPlane | undefined;
let crdApplied = false;

function templateArgs(extra: string[] = []): string[] {
  return ['template', RELEASE, chartDir, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, ...extra];
}

async function render(extra: string[] = []): Promise<K8sObject[]> {
  const result = await helm(templateArgs(extra));
  assert.equal(result.code, 0, `helm template ${extra.join(' ')} failed:\n${result.stderr}`);
  return parseObjects(result.stdout);
}

function parseObjects(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    assert.equal(doc.errors.length, 0, `rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) continue;
    assert.ok(isRecord(raw), 'every rendered document is an object');
    const { apiVersion, kind } = raw;
    assert.ok(typeof apiVersion === 'string' && typeof kind === 'string', 'every object has apiVersion and kind');
    const metadata = record(raw.metadata);
    assert.equal(typeof metadata.name, 'string', `${kind} has a name`);
    objects.push({ apiVersion, kind, metadata, raw });
  }
  return objects;
}

function kinds(objects: K8sObject[]): string[] {
  return objects.map((o) => o.kind).sort();
}

/** The operator Service (the other one is the fleet Service, `<fullname>-fleet`). */
function operatorService(objects: K8sObject[]): K8sObject {
  const found = objects.filter((o) => o.kind === 'Service' && !String(o.metadata.name).endsWith('-fleet'));
  assert.equal(found.length, 1, 'exactly one operator Service is rendered');
  const [first] = found;
  assert.ok(first !== undefined);
  return first;
}

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind} is rendered`);
  const [first] = found;
  assert.ok(first !== undefined);
  return first;
}

/** The pod spec inside any workload kind (or a Pod itself); undefined for objects that hold no pods. */
function podSpecOf(object: K8sObject): Record<string, unknown> | undefined {
  const spec = record(object.raw.spec);
  switch (object.kind) {
    case 'Pod':
      return spec;
    case 'Deployment':
    case 'DaemonSet':
    case 'StatefulSet':
    case 'ReplicaSet':
    case 'ReplicationController':
    case 'Job':
      return record(record(spec.template).spec);
    case 'CronJob':
      return record(record(record(record(spec.jobTemplate).spec).template).spec);
    default:
      return undefined;
  }
}

function containersOf(podSpec: Record<string, unknown>): Record<string, unknown>[] {
  return [...list(podSpec.initContainers), ...list(podSpec.containers), ...list(podSpec.ephemeralContainers)].map(
    record,
  );
}

function envOf(container: Record<string, unknown>): Map<string, Record<string, unknown>> {
  const env = new Map<string, Record<string, unknown>>();
  for (const entry of list(container.env).map(record)) {
    if (typeof entry.name === 'string') env.set(entry.name, entry);
  }
  return env;
}

function operatorContainer(objects: K8sObject[]): { pod: Record<string, unknown>; container: Record<string, unknown> } {
  const pod = podSpecOf(only(objects, 'Deployment'));
  assert.ok(pod !== undefined);
  const container = list(pod.containers).map(record).find((c) => c.name === 'operator');
  assert.ok(container !== undefined, 'the Deployment has a container named operator');
  return { pod, container };
}

before(
  async () => {
    await helmBinary(); // builds the tools on first use: may take long
  },
  { timeout: 60 * 60_000 },
);

after(async () => {
  await controlPlane?.stop();
});

test('helm lint --strict is clean', async () => {
  for (const extra of [[], ['--set', 'replicaCount=1'], ['--set', 'serviceMonitor.enabled=true']]) {
    const result = await helm(['lint', chartDir, '--strict', '--kube-version', KUBE_VERSION, ...extra]);
    const output = result.stdout + result.stderr;
    assert.equal(result.code, 0, `helm lint --strict ${extra.join(' ')} failed:\n${output}`);
    assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(output, /\[(WARNING|ERROR)\]/, output);
  }
});

test('helm template renders the operator with the expected objects, env and ports', async () => {
  const objects = await render();
  assert.deepEqual(kinds(objects), [
    'ClusterRole',
    'ClusterRoleBinding',
    'ConfigMap', // the three Grafana dashboards (dashboards.enabled defaults to true)
    'ConfigMap',
    'ConfigMap',
    'CustomResourceDefinition', // crds.install defaults to true
    'Deployment',
    'PodDisruptionBudget',
    'Role', // the release namespace
    'Role', // events in "default"
    'RoleBinding',
    'RoleBinding',
    'Service',
    'Service', // the fleet Service (no selector; the leader routes it to itself)
    'ServiceAccount',
  ]);
  for (const o of objects) {
    const labels = record(o.metadata.labels);
    for (const key of [
      'app.kubernetes.io/name',
      'app.kubernetes.io/instance',
      'app.kubernetes.io/version',
      'app.kubernetes.io/managed-by',
      'helm.sh/chart',
    ]) {
      assert.equal(typeof labels[key], 'string', `${o.kind} ${String(o.metadata.name)} has label ${key}`);
    }
    if (!['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition'].includes(o.kind)) {
      // The one exception: Events of the cluster-scoped SsmAgentConfigs live in "default".
      const events = (o.kind === 'Role' || o.kind === 'RoleBinding') && String(o.metadata.name).endsWith('-events');
      assert.equal(o.metadata.namespace, events ? 'default' : NAMESPACE, `${o.kind} ${String(o.metadata.name)} is in its namespace`);
    }
  }

  const deployment = only(objects, 'Deployment');
  assert.equal(record(deployment.raw.spec).replicas, 2);
  const { pod, container } = operatorContainer(objects);
  assert.equal(pod.serviceAccountName, only(objects, 'ServiceAccount').metadata.name);
  assert.equal(container.image, 'ghcr.io/ssm-agent-operator/ssm-agent-operator:0.1.0');

  const env = envOf(container);
  assert.equal(record(record(env.get('POD_NAMESPACE')?.valueFrom).fieldRef).fieldPath, 'metadata.namespace');
  assert.equal(record(record(env.get('POD_NAME')?.valueFrom).fieldRef).fieldPath, 'metadata.name');
  assert.equal(env.get('NODE_AGENT_IMAGE')?.value, 'ghcr.io/ssm-agent-operator/ssm-agent-operator:0.1.0');
  assert.equal(env.get('LOG_LEVEL')?.value, 'info');
  assert.equal(env.get('NODE_OPTIONS')?.value, OPERATOR_NODE_OPTIONS, 'the V8 options the tests and benchmarks run the operator with');
  assert.equal(env.get('LEADER_ELECTION')?.value, 'true');
  assert.equal(env.get('CLUSTER_NAME')?.value, '');
  assert.equal(env.get('HTTP_PORT')?.value, '8080');

  const ports = list(container.ports).map(record);
  assert.deepEqual(
    ports.map((p) => [p.name, p.containerPort]),
    [
      ['http', 8080],
      ['fleet', 8443],
    ],
  );
  assert.deepEqual(record(container.livenessProbe).httpGet, { path: '/healthz', port: 'http' });
  assert.deepEqual(record(container.readinessProbe).httpGet, { path: '/readyz', port: 'http' });

  const service = operatorService(objects);
  const serviceSpec = record(service.raw.spec);
  assert.equal(serviceSpec.type, 'ClusterIP');
  assert.deepEqual(
    list(serviceSpec.ports)
      .map(record)
      .map((p) => [p.name, p.port, p.targetPort]),
    [
      ['http', 8080, 'http'],
      ['fleet', 8443, 'fleet'],
    ],
  );
  const podLabels = record(record(record(deployment.raw.spec).template).metadata).labels;
  for (const [key, value] of Object.entries(record(serviceSpec.selector))) {
    assert.equal(record(podLabels)[key], value, `the Service selects the operator pods (${key})`);
  }

  // The fleet Service selects nothing: the leader writes its EndpointSlice (its own POD_IP) so that a standby,
  // ready for /metrics, never receives node agents.
  const fleet = objects.find((o) => o.kind === 'Service' && String(o.metadata.name).endsWith('-fleet'));
  assert.ok(fleet, 'the fleet Service is rendered');
  const fleetSpec = record(fleet.raw.spec);
  assert.equal(fleetSpec.selector, undefined);
  assert.deepEqual(list(fleetSpec.ports).map(record).map((p) => [p.name, p.port]), [['fleet', 8443]]);
  assert.equal(env.get('FLEET_SERVICE_NAME')?.value, fleet.metadata.name);
  assert.equal(record(record(env.get('POD_IP')?.valueFrom).fieldRef).fieldPath, 'status.podIP');
});

test('values are passed through: images, log level, cluster name, leader election, scheduling', async () => {
  const objects = await render([
    '--set',
    'image.tag=9.9.9',
    '--set',
    'nodeAgent.image=registry.example/agent:1',
    '--set',
    'logLevel=debug',
    '--set',
    'clusterName=prod-eu',
    '--set',
    'replicaCount=1',
    '--set',
    'leaderElection.enabled=false',
    '--set',
    'priorityClassName=system-cluster-critical',
    '--set',
    'nodeSelector.kubernetes\\.io/os=linux',
    '--set',
    'imagePullSecrets[0].name=regcred',
    '--set',
    'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/x',
  ]);
  assert.ok(!kinds(objects).includes('PodDisruptionBudget'), 'no PodDisruptionBudget with one replica');
  const { pod, container } = operatorContainer(objects);
  const env = envOf(container);
  assert.equal(container.image, 'ghcr.io/ssm-agent-operator/ssm-agent-operator:9.9.9');
  assert.equal(env.get('NODE_AGENT_IMAGE')?.value, 'registry.example/agent:1');
  assert.equal(env.get('LOG_LEVEL')?.value, 'debug');
  assert.equal(env.get('CLUSTER_NAME')?.value, 'prod-eu');
  assert.equal(env.get('LEADER_ELECTION')?.value, 'false');
  assert.equal(pod.priorityClassName, 'system-cluster-critical');
  assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
  assert.equal(
    record(only(objects, 'ServiceAccount').metadata.annotations)['eks.amazonaws.com/role-arn'],
    'arn:aws:iam::123456789012:role/x',
  );

  // More than one replica forces leader election on, whatever leaderElection.enabled says.
  const scaled = await render(['--set', 'replicaCount=3', '--set', 'leaderElection.enabled=false']);
  assert.equal(envOf(operatorContainer(scaled).container).get('LEADER_ELECTION')?.value, 'true');
  assert.ok(kinds(scaled).includes('PodDisruptionBudget'));
});

test('nothing rendered is privileged; the operator runs non-root with a read-only root filesystem', async () => {
  for (const extra of [[], ['--set', 'replicaCount=1'], ['--set', 'serviceMonitor.enabled=true']]) {
    const objects = await render(extra);
    for (const object of objects) {
      const pod = podSpecOf(object);
      if (pod === undefined) continue;
      const where = `${object.kind} ${String(object.metadata.name)}`;
      for (const key of ['hostPID', 'hostIPC', 'hostNetwork']) assert.notEqual(pod[key], true, `${where}: ${key}`);
      assert.ok(
        list(pod.volumes).every((v) => record(v).hostPath === undefined),
        `${where}: no hostPath volume`,
      );
      for (const c of containersOf(pod)) {
        const sc = record(c.securityContext);
        assert.notEqual(sc.privileged, true, `${where}/${String(c.name)} is privileged`);
        assert.notEqual(sc.allowPrivilegeEscalation, true, `${where}/${String(c.name)} allows privilege escalation`);
        assert.deepEqual(strings(record(sc.capabilities).add), [], `${where}/${String(c.name)} adds capabilities`);
      }
    }

    const { pod, container } = operatorContainer(objects);
    const podSc = record(pod.securityContext);
    const sc = record(container.securityContext);
    assert.equal(sc.runAsNonRoot ?? podSc.runAsNonRoot, true, 'runAsNonRoot');
    const uid = sc.runAsUser ?? podSc.runAsUser;
    assert.ok(typeof uid === 'number' && uid !== 0, `runs as a non-root uid (got ${String(uid)})`);
    assert.equal(uid, 65532);
    assert.equal(sc.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
    assert.equal(sc.allowPrivilegeEscalation, false, 'allowPrivilegeEscalation is explicitly false');
    assert.ok(strings(record(sc.capabilities).drop).includes('ALL'), 'drops ALL capabilities');
    assert.equal(record(sc.seccompProfile ?? podSc.seccompProfile).type, 'RuntimeDefault');
    const tmpMount = list(container.volumeMounts)
      .map(record)
      .find((m) => m.mountPath === '/tmp');
    assert.ok(tmpMount !== undefined, '/tmp is a writable volume');
    const tmpVolume = list(pod.volumes)
      .map(record)
      .find((v) => v.name === tmpMount.name);
    assert.ok(tmpVolume?.emptyDir !== undefined, '/tmp is an emptyDir');
  }
});

test('RBAC is least privilege: no cluster-wide secrets, no wildcards, no escalate/bind/impersonate', async () => {
  const objects = await render();
  const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
  assert.deepEqual(roles.map((r) => r.kind).sort(), ['ClusterRole', 'Role', 'Role']);
  for (const role of roles) {
    for (const rule of list(role.raw.rules).map(record)) {
      const where = `${role.kind} rule ${JSON.stringify(rule)}`;
      const apiGroups = strings(rule.apiGroups);
      const resources = strings(rule.resources);
      const verbs = strings(rule.verbs);
      for (const value of [...apiGroups, ...resources, ...verbs, ...strings(rule.nonResourceURLs)]) {
        assert.ok(!value.includes('*'), `${where} uses a wildcard`);
      }
      for (const verb of ['escalate', 'bind', 'impersonate']) assert.ok(!verbs.includes(verb), `${where}: ${verb}`);
      if (role.kind === 'ClusterRole') {
        assert.ok(!resources.some((r) => r === 'secrets' || r.startsWith('secrets/')), `${where} grants secrets`);
        assert.ok(!apiGroups.includes('rbac.authorization.k8s.io'), `${where} grants RBAC objects`);
        assert.equal(rule.nonResourceURLs, undefined, `${where} grants non-resource URLs`);
      }
    }
  }
  // Every binding binds the operator's ServiceAccount to the chart's own role, nothing broader.
  const serviceAccount = only(objects, 'ServiceAccount').metadata.name;
  for (const binding of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const roleRef = record(binding.raw.roleRef);
    assert.equal(roleRef.kind, binding.kind === 'RoleBinding' ? 'Role' : 'ClusterRole');
    assert.ok(
      roles.some((r) => r.kind === roleRef.kind && r.metadata.name === roleRef.name),
      `${binding.kind} refers to a role of the chart`,
    );
    assert.deepEqual(list(binding.raw.subjects), [{ kind: 'ServiceAccount', name: serviceAccount, namespace: NAMESPACE }]);
  }
});

test('the values schema rejects wrong types and unknown keys with a clear message', async () => {
  const cases: { args: string[]; mentions: RegExp }[] = [
    { args: ['--set', 'replicaCount=abc'], mentions: /replicaCount/ },
    { args: ['--set', 'replicaCount=-1'], mentions: /replicaCount/ },
    { args: ['--set', 'noSuchKey=1'], mentions: /noSuchKey/ },
    { args: ['--set', 'image.noSuchKey=1'], mentions: /noSuchKey/ },
    { args: ['--set', 'logLevel=loud'], mentions: /logLevel/ },
    { args: ['--set', 'serviceMonitor.enabled=maybe'], mentions: /serviceMonitor/ },
    { args: ['--set', 'serviceMonitor.interval=often'], mentions: /interval/ },
  ];
  for (const { args, mentions } of cases) {
    const result = await helm(templateArgs(args));
    assert.notEqual(result.code, 0, `helm template ${args.join(' ')} should fail`);
    assert.match(result.stderr, /values don't meet the specifications of the schema/, result.stderr);
    assert.match(result.stderr, mentions, result.stderr);
  }
  // Used as a subchart, a parent's `global` values must not trip the schema.
  const asSubchart = await helm(templateArgs(['--set', 'global.imageRegistry=example']));
  assert.equal(asSubchart.code, 0, asSubchart.stderr);
});

test('the ServiceMonitor is rendered only when enabled', async () => {
  assert.ok(!kinds(await render()).includes('ServiceMonitor'), 'no ServiceMonitor by default');
  const objects = await render([
    '--set',
    'serviceMonitor.enabled=true',
    '--set',
    'serviceMonitor.interval=15s',
    '--set',
    'serviceMonitor.labels.release=kube-prometheus-stack',
  ]);
  const monitor = only(objects, 'ServiceMonitor');
  assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(record(monitor.metadata.labels).release, 'kube-prometheus-stack');
  const spec = record(monitor.raw.spec);
  const [endpoint, ...more] = list(spec.endpoints).map(record);
  assert.equal(more.length, 0);
  assert.ok(endpoint !== undefined);
  assert.equal(endpoint.port, 'http');
  assert.equal(endpoint.path, '/metrics');
  assert.equal(endpoint.interval, '15s');
  const serviceLabels = record(operatorService(objects).metadata.labels);
  for (const [key, value] of Object.entries(record(record(spec.selector).matchLabels))) {
    assert.equal(serviceLabels[key], value, `the ServiceMonitor selects the Service (${key})`);
  }
});

async function kubectl(args: string[], input?: string): Promise<string> {
  assert.ok(controlPlane !== undefined, 'the control plane runs');
  const result = await controlPlane.kubectl(args, input);
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

const OPERATOR_USER = `system:serviceaccount:${NAMESPACE}:${RELEASE}`;

/** `kubectl auth can-i` as the operator's ServiceAccount. */
async function operatorCan(args: string[]): Promise<boolean> {
  assert.ok(controlPlane !== undefined, 'the control plane runs');
  const result = await controlPlane.kubectl(['auth', 'can-i', ...args, `--as=${OPERATOR_USER}`]);
  const answer = result.stdout.trim();
  assert.ok(answer === 'yes' || answer === 'no', `kubectl auth can-i ${args.join(' ')}: ${result.stderr}${answer}`);
  return answer === 'yes';
}

test('the rendered chart is accepted by a real kube-apiserver (server-side dry run)', { timeout: 10 * 60_000 }, async (t) => {
  controlPlane = await startControlPlane({ controllerManager: false });
  await kubectl(['create', 'namespace', NAMESPACE]);
  if (existsSync(crdFile)) {
    await kubectl(['apply', '--server-side', '-f', crdFile]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/ssmagentconfigs.ssmagent.io']);
    crdApplied = true;
  } else {
    t.diagnostic(`CRD not applied: ${path.relative(repoRoot, crdFile)} does not exist yet (run npm run generate)`);
  }
  for (const extra of [[], ['--set', 'replicaCount=1']]) {
    const rendered = await helm(templateArgs(extra));
    assert.equal(rendered.code, 0, rendered.stderr);
    const output = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], rendered.stdout);
    const expected = parseObjects(rendered.stdout).length;
    const confirmed = output.match(/serverside-applied \(server dry run\)/g)?.length ?? 0;
    assert.equal(confirmed, expected, `every object is accepted:\n${output}`);
  }
});

test('installed, the operator may not make RBAC objects, and reads no Secret outside its namespace', { timeout: 10 * 60_000 }, async (t) => {
  if (controlPlane === undefined) {
    t.skip('the control plane did not start');
    return;
  }
  const rendered = await helm(templateArgs());
  assert.equal(rendered.code, 0, rendered.stderr);
  await kubectl(['apply', '--server-side', '-f', '-'], rendered.stdout);

  assert.equal(await operatorCan(['get', 'secrets', '--all-namespaces']), false, 'no cluster-wide secrets');
  assert.equal(await operatorCan(['get', 'secrets', '-n', 'default']), false, 'no secrets in other namespaces');
  assert.equal(await operatorCan(['create', 'secrets', '-n', NAMESPACE]), true, 'secrets in its own namespace');
  assert.equal(await operatorCan(['create', 'daemonsets.apps', '-n', NAMESPACE]), true);
  assert.equal(await operatorCan(['create', 'daemonsets.apps', '-n', 'default']), false);
  assert.equal(await operatorCan(['update', 'leases.coordination.k8s.io/ssm-agent-operator-leader', '-n', NAMESPACE]), true);
  assert.equal(await operatorCan(['update', 'leases.coordination.k8s.io/another-lease', '-n', NAMESPACE]), false, 'only its own Lease');
  assert.equal(await operatorCan(['patch', 'nodes']), true);
  assert.equal(await operatorCan(['create', 'tokenreviews.authentication.k8s.io']), true);
  // The fleet route: its own EndpointSlice only (create cannot be limited to a name).
  assert.equal(await operatorCan(['update', `endpointslices.discovery.k8s.io/${RELEASE}-fleet`, '-n', NAMESPACE]), true);
  assert.equal(await operatorCan(['update', 'endpointslices.discovery.k8s.io/another', '-n', NAMESPACE]), false);
  assert.equal(await operatorCan(['create', 'endpointslices.discovery.k8s.io', '-n', 'default']), false);
  // The default cluster identity (clusterName empty) is the kube-system namespace's UID: that one namespace only.
  assert.equal(await operatorCan(['get', 'namespaces/kube-system']), true, 'get namespace kube-system');
  assert.equal(await operatorCan(['get', 'namespaces/default']), false, 'no other namespace');
  assert.equal(await operatorCan(['list', 'namespaces']), false, 'no namespace list');
  if (crdApplied) {
    // kubectl resolves the resource through discovery, so these need the CRD.
    assert.equal(await operatorCan(['watch', 'ssmagentconfigs.ssmagent.io']), true);
    assert.equal(await operatorCan(['patch', 'ssmagentconfigs.ssmagent.io', '--subresource=status']), true);
    assert.equal(await operatorCan(['create', 'ssmagentconfigs.ssmagent.io']), false, 'only cluster admins create configs');
  }
  assert.equal(await operatorCan(['escalate', 'clusterroles.rbac.authorization.k8s.io']), false);
  assert.equal(await operatorCan(['bind', 'clusterroles.rbac.authorization.k8s.io']), false);
  assert.equal(await operatorCan(['create', 'pods', '-n', NAMESPACE]), false);

  // The per-config node-agent ClusterRole is gone (the node agent never calls the API): the operator may create no
  // RBAC object at all, not even one granting less than it holds.
  const nodeAgentRbac = [
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: ClusterRole',
    'metadata: {name: ssm-agent-node-agent-test}',
    'rules: [{apiGroups: [""], resources: [nodes], verbs: [list]}]',
    '',
  ].join('\n');
  assert.ok(controlPlane !== undefined);
  const denied = await controlPlane.kubectl(['apply', '--server-side', `--as=${OPERATOR_USER}`, '-f', '-'], nodeAgentRbac);
  assert.notEqual(denied.code, 0, 'the operator may not create a ClusterRole');
  assert.match(denied.stderr, /forbidden/i, denied.stderr);

  // ...but it cannot hand out what it does not hold (here: Secrets cluster-wide).
  const escalation = [
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: ClusterRole',
    'metadata: {name: ssm-agent-escalation-test}',
    'rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]',
    '',
  ].join('\n');
  const refused = await controlPlane.kubectl(['apply', '--server-side', `--as=${OPERATOR_USER}`, '-f', '-'], escalation);
  assert.notEqual(refused.code, 0, 'creating a ClusterRole with permissions the operator lacks must fail');
  assert.match(refused.stderr, /forbidden/i, refused.stderr);
});
