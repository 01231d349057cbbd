// The chart's values for every operator setting, images (digest, global registry, shared pull secrets), the Pod
// Security advice, the NetworkPolicy and the supported Kubernetes versions, with the real helm; then against a real
// kube-apiserver: after the documented `kubectl label`, Pod Security Admission admits the node agents' pod (as the
// operator renders it) and refuses it in a `baseline` namespace, the NetworkPolicy is accepted, and NOTES.txt says
// what the product does. (The chart cannot create its own release namespace: helm stores the release there first.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments, stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { CHART_DIR, KUBE_VERSION, helmBinary, runHelm } from '../harness/helm.ts';
import { isRecord, list, record } from '../harness/shapes.ts';
import { readSettings } from '../../operator/settings.ts';
import { buildDaemonSet } from '../../operator/manifests/daemonset.ts';
import { withNodeAgentDefaults } from '../../operator/manifests/node-agent-defaults.ts';
import { parseSpec } from '../../operator/api/validate.ts';
import { sampleConfig } from '../fixtures/configs.ts';
import { OPERATOR_NODE_OPTIONS } from '../../operator/image/operator-runtime.ts';

const NAMESPACE = 'ssm-system';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
let controlPlane: ControlPlane | undefined;

before(async () => void (await helmBinary()), { timeout: 60 * 60_000 });
after(async () => void (await controlPlane?.stop()));

async function render(args: string[] = [], kubeVersion = KUBE_VERSION): Promise<Record<string, unknown>[]> {
  const r = await runHelm(['template', 'ssm', CHART_DIR, '--namespace', NAMESPACE, '--kube-version', kubeVersion, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as unknown)
    .filter(isRecord);
}

function operatorContainer(objects: Record<string, unknown>[]): Record<string, unknown> {
  const deployment = objects.find((o) => o.kind === 'Deployment');
  const pod = record(record(record(deployment?.spec).template).spec);
  return { ...record(list(pod.containers)[0]), pod };
}

/** The operator's environment as the container would have it (a later duplicate would win; there must be none). */
function envOf(container: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of list(container.env).map(record)) {
    assert.equal(typeof e.name, 'string');
    const name = e.name as string;
    assert.ok(!(name in env), `${name} is set once`);
    env[name] = typeof e.value === 'string' ? e.value : `<${JSON.stringify(e.valueFrom)}>`;
  }
  return env;
}

test('every operator setting the README lists can be set through values, and the operator accepts what the chart renders', async () => {
  const objects = await render([
    '--set', 'leaderElection.leaseName=my-lease',
    '--set', 'leaderElection.leaseDurationSeconds=30',
    '--set', 'leaderElection.renewDeadlineSeconds=20',
    '--set', 'leaderElection.retryPeriodSeconds=4',
    '--set', 'resyncSeconds=120',
    '--set', 'workers=4',
    '--set', 'ports.http=9090',
    '--set', 'ports.fleet=9443',
    '--set', 'fleet.advertiseAddress=10.0.0.10:30443',
    '--set', 'ssm.endpoint=https://vpce-1.ssm.us-east-1.vpce.amazonaws.com',
    '--set', 'ssm.syncIntervalSeconds=60',
    '--set', 'latestVersionIntervalSeconds=7200',
    '--set', 'clusterName=prod',
    '--set', 'logLevel=debug',
    '--set', 'proxy.httpsProxy=http://proxy.corp:3128',
    '--set', 'proxy.noProxy={.svc,169.254.169.254}',
    '--set', 'awsCaBundle.configMap=corp-ca',
    '--set', 'nodeAgent.priorityClassName=fleet-critical',
    '--set', 'nodeAgent.tolerateControlPlane=true',
    '--set', 'imagePullSecrets[0].name=reg-a',
    '--set', 'imagePullSecrets[1].name=reg-b',
  ]);
  const container = operatorContainer(objects);
  const env = envOf(container);
  assert.deepEqual(
    { ...env, POD_NAMESPACE: undefined, POD_NAME: undefined },
    {
      POD_NAMESPACE: undefined,
      POD_NAME: undefined,
      NODE_OPTIONS: OPERATOR_NODE_OPTIONS,
      NODE_AGENT_IMAGE: 'ghcr.io/ssm-agent-operator/ssm-agent-operator:0.1.0',
      LOG_LEVEL: 'debug',
      LEADER_ELECTION: 'true',
      LEASE_NAME: 'my-lease',
      LEASE_DURATION_SECONDS: '30',
      RENEW_DEADLINE_SECONDS: '20',
      RETRY_PERIOD_SECONDS: '4',
      CLUSTER_NAME: 'prod',
      HTTP_PORT: '9090',
      OPERATOR_SERVICE_NAME: 'ssm-ssm-agent-operator',
      FLEET_PORT: '9443',
      FLEET_SERVICE_NAME: 'ssm-ssm-agent-operator-fleet',
      POD_IP: '<{"fieldRef":{"fieldPath":"status.podIP"}}>',
      FLEET_ADVERTISE_ADDRESS: '10.0.0.10:30443',
      RESYNC_SECONDS: '120',
      WORKERS: '4',
      SSM_ENDPOINT: 'https://vpce-1.ssm.us-east-1.vpce.amazonaws.com',
      SSM_SYNC_INTERVAL_SECONDS: '60',
      LATEST_VERSION_INTERVAL_SECONDS: '7200',
      HTTPS_PROXY: 'http://proxy.corp:3128',
      NO_PROXY: '.svc,169.254.169.254',
      AWS_CA_BUNDLE: '/etc/ssm-agent-operator/aws-ca/ca.crt',
      NODE_AGENT_PRIORITY_CLASS_NAME: 'fleet-critical',
      NODE_AGENT_TOLERATE_CONTROL_PLANE: 'true',
      NODE_AGENT_IMAGE_PULL_SECRETS: 'reg-a,reg-b',
    },
  );
  // The operator's own settings parser takes all of it.
  const settings = readSettings({ ...env, POD_NAMESPACE: NAMESPACE, POD_NAME: 'p', POD_IP: '10.244.1.5' });
  assert.ok(settings.ok, JSON.stringify(settings));
  assert.equal(settings.settings.httpPort, 9090);
  assert.equal(settings.settings.leaseName, 'my-lease');
  assert.deepEqual(settings.settings.nodeAgentDefaults, { priorityClassName: 'fleet-critical', imagePullSecrets: ['reg-a', 'reg-b'], tolerateControlPlane: true });
  assert.deepEqual(settings.settings.awsProxy, { httpsProxy: 'http://proxy.corp:3128', noProxy: '.svc,169.254.169.254' });
  // Ports follow the values everywhere.
  assert.deepEqual(list(container.ports).map((p) => record(p).containerPort), [9090, 9443]);
  const service = objects.find((o) => o.kind === 'Service');
  assert.deepEqual(list(record(service?.spec).ports).map((p) => record(p).port), [9090, 9443]);
  // The fleet Service too: node agents dial its ClusterIP at the fleet port.
  const fleetService = objects.find((o) => o.kind === 'Service' && record(o.metadata).name === 'ssm-ssm-agent-operator-fleet');
  assert.deepEqual(list(record(fleetService?.spec).ports).map((p) => record(p).port), [9443]);
  // The CA bundle is mounted where AWS_CA_BUNDLE points.
  const pod = record(container.pod);
  assert.ok(list(pod.volumes).some((v) => record(record(v).configMap).name === 'corp-ca'));
  assert.ok(list(container.volumeMounts).some((m) => record(m).mountPath === '/etc/ssm-agent-operator/aws-ca'));
  assert.deepEqual(pod.imagePullSecrets, [{ name: 'reg-a' }, { name: 'reg-b' }]);
});

test('the defaults: system-node-critical for the node agents, no proxy, and a name in `env` replaces the chart\'s', async () => {
  const env = envOf(operatorContainer(await render(['--set-json', 'env=[{"name":"WORKERS","value":"8"},{"name":"AWS_REGION","value":"eu-west-1"},{"name":"NODE_OPTIONS","value":"--max-old-space-size=300"}]'])));
  assert.equal(env.NODE_AGENT_PRIORITY_CLASS_NAME, 'system-node-critical');
  assert.equal(env.NODE_AGENT_TOLERATE_CONTROL_PLANE, 'false');
  assert.equal(env.WORKERS, '8', 'env wins, once');
  assert.equal(env.AWS_REGION, 'eu-west-1');
  assert.equal(env.NODE_OPTIONS, '--max-old-space-size=300', 'NODE_OPTIONS too: the chart sets one (operator/image/operator-runtime.ts)');
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'SSM_ENDPOINT', 'NODE_AGENT_IMAGE_PULL_SECRETS', 'AWS_CA_BUNDLE']) assert.equal(env[name], undefined, name);
  // A proxy with credentials comes from a Secret (the same keys as a config's proxy.secretRef), over inline values.
  const fromSecret = envOf(operatorContainer(await render(['--set', 'proxy.secretName=corp-proxy', '--set', 'proxy.httpsProxy=http://ignored:1'])));
  assert.equal(fromSecret.HTTPS_PROXY, '<{"secretKeyRef":{"key":"httpsProxy","name":"corp-proxy","optional":true}}>');
  assert.equal(fromSecret.HTTP_PROXY, '<{"secretKeyRef":{"key":"httpProxy","name":"corp-proxy","optional":true}}>');
});

test('images: digest, global registry override, and the node agents get the same reference', async () => {
  const byDigest = operatorContainer(await render(['--set', `image.digest=${DIGEST}`]));
  assert.equal(byDigest.image, `ghcr.io/ssm-agent-operator/ssm-agent-operator@${DIGEST}`);
  assert.equal(envOf(byDigest).NODE_AGENT_IMAGE, byDigest.image);
  const mirrored = operatorContainer(await render(['--set', 'global.imageRegistry=mirror.corp:5000', '--set', 'image.tag=1.2.3']));
  assert.equal(mirrored.image, 'mirror.corp:5000/ssm-agent-operator/ssm-agent-operator:1.2.3');
  assert.equal(envOf(mirrored).NODE_AGENT_IMAGE, mirrored.image);
  const noRegistry = operatorContainer(await render(['--set', 'global.imageRegistry=mirror.corp', '--set', 'image.repository=team/operator']));
  assert.equal(noRegistry.image, 'mirror.corp/team/operator:0.1.0', 'a repository without a registry gets one');
  const ownAgent = operatorContainer(await render(['--set', 'global.imageRegistry=mirror.corp', '--set', 'nodeAgent.image=other.example/agent:9']));
  assert.equal(envOf(ownAgent).NODE_AGENT_IMAGE, 'other.example/agent:9', 'a full nodeAgent.image is left alone');
  for (const bad of ['image.digest=sha256:short', 'image.digest=latest']) {
    const r = await runHelm(['template', 'ssm', CHART_DIR, '--kube-version', KUBE_VERSION, '--set', bad]);
    assert.notEqual(r.code, 0, `${bad} is refused`);
    assert.match(r.stderr, /digest/);
  }
});

test('supported versions: the chart refuses Kubernetes older than 1.29 (what the CRD\'s CEL rules need)', async () => {
  for (const version of ['1.28.15', '1.27.0']) {
    const r = await runHelm(['template', 'ssm', CHART_DIR, '--kube-version', version]);
    assert.notEqual(r.code, 0, `${version} is refused`);
    assert.match(r.stderr, /chart requires kubeVersion: >=1\.29\.0-0 which is incompatible with Kubernetes v1\.2[78]/);
  }
  for (const version of ['1.29.0', '1.35.4']) assert.ok((await render([], version)).length > 0, `${version} is accepted`);
});

test('the NetworkPolicy is opt-in and admits only the operator\'s ports', async () => {
  assert.ok(!(await render()).some((o) => o.kind === 'NetworkPolicy'));
  const objects = await render(['--set', 'networkPolicy.enabled=true', '--set-json', 'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]']);
  const policy = record(objects.find((o) => o.kind === 'NetworkPolicy'));
  const ingress = list(record(policy.spec).ingress).map(record);
  assert.deepEqual(ingress.map((r) => list(r.ports).map((p) => record(p).port)), [['http'], ['fleet']]);
  assert.equal(list(ingress[0]?.from).length, 1, 'metrics only from the monitoring namespace');
  assert.equal(ingress[1]?.from, undefined, 'fleet from anywhere by default');
});

async function kubectl(args: string[], input?: string) {
  assert.ok(controlPlane !== undefined);
  return controlPlane.kubectl(args, input);
}

test('a real API server: the chart installs, NOTES tell the truth and its kubectl label makes PSA admit the node agents', { timeout: 10 * 60_000 }, async () => {
  controlPlane = await startControlPlane({ controllerManager: false });
  // The node agents' pod exactly as the operator renders it (with the chart's default PriorityClass).
  const parsed = parseSpec({ region: 'us-east-1' });
  assert.ok(parsed.ok);
  const spec = withNodeAgentDefaults(parsed.spec, { priorityClassName: 'system-node-critical' });
  const podSpec = buildDaemonSet({ config: sampleConfig('psa', spec), context: { namespace: NAMESPACE, nodeAgentImage: 'img:1' } }, 'r1').spec?.template.spec;
  const pod = (namespace: string) => stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'node-agent', namespace }, spec: { ...podSpec, serviceAccountName: 'default' } });

  const installed = await runHelm(['install', 'ssm', CHART_DIR, '--namespace', NAMESPACE, '--create-namespace', '--kubeconfig', controlPlane.kubeconfigPath, '--set', 'networkPolicy.enabled=true']);
  assert.equal(installed.code, 0, installed.stderr);
  assert.doesNotMatch(installed.stdout, /not implemented/i, 'NOTES.txt');
  assert.match(installed.stdout, /installs the agent from a verified package/);
  const advice = /kubectl label namespace (\S+) pod-security\.kubernetes\.io\/enforce=privileged --overwrite/.exec(installed.stdout);
  assert.ok(advice, `NOTES.txt tells how to label the namespace:\n${installed.stdout}`);
  assert.equal(advice[1], NAMESPACE);
  // Before the label, a namespace that enforces baseline refuses the node agents; the command from NOTES fixes it.
  await kubectl(['label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/enforce=baseline']);
  // No controller manager here: the ServiceAccount admission needs the "default" ServiceAccount made by hand.
  assert.equal((await kubectl(['-n', NAMESPACE, 'create', 'serviceaccount', 'default'])).code, 0);
  const before = await kubectl(['create', '--dry-run=server', '-f', '-'], pod(NAMESPACE));
  assert.notEqual(before.code, 0);
  assert.match(before.stderr, /violates PodSecurity "baseline:latest"/, before.stderr);
  assert.equal((await kubectl(['label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/enforce=privileged', '--overwrite'])).code, 0);

  const admitted = await kubectl(['create', '--dry-run=server', '-f', '-'], pod(NAMESPACE));
  assert.equal(admitted.code, 0, `the chart's namespace admits the node agent: ${admitted.stderr}`);
  assert.equal((await kubectl(['-n', NAMESPACE, 'get', 'networkpolicy', 'ssm-ssm-agent-operator'])).code, 0);
});
