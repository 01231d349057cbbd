import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import {
  checkFleetCertificates,
  fleetCertificatesFromSecret,
  fleetServingIdentity,
  generateFleetCertificates,
  issueServingCertificate,
  renewFleetCertificates,
} from '../../operator/fleet/certificates.ts';
import { buildFleetCaConfigMap, buildFleetTlsSecret } from '../../operator/manifests/fleet-tls.ts';

const DAY = 86_400_000;
const identity = fleetServingIdentity({ serviceName: 'ssm-agent-operator', namespace: 'ssm-system', clusterIP: '10.96.0.20' });

test('the serving identity is the Service DNS names and its ClusterIP', () => {
  assert.deepEqual(identity, {
    dnsNames: ['ssm-agent-operator.ssm-system.svc', 'ssm-agent-operator.ssm-system.svc.cluster.local'],
    ips: ['10.96.0.20'],
  });
  assert.deepEqual(fleetServingIdentity({ serviceName: 's', namespace: 'n', clusterIP: 'None' }).ips, [], 'a headless Service has no ClusterIP');
  assert.throws(() => fleetServingIdentity({ serviceName: 's', namespace: 'n', clusterIP: 'ten' }), /not an IP address/);
});

test('a generated CA signs a serving certificate for exactly those names, for serverAuth', async () => {
  const now = new Date();
  const certs = await generateFleetCertificates(identity, { now });
  const ca = new X509Certificate(certs.ca.cert);
  const serving = new X509Certificate(certs.serving.cert);
  assert.equal(ca.ca, true);
  assert.equal(serving.ca, false);
  assert.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey));
  assert.equal(serving.subjectAltName, 'DNS:ssm-agent-operator.ssm-system.svc, DNS:ssm-agent-operator.ssm-system.svc.cluster.local, IP Address:10.96.0.20');
  assert.deepEqual(serving.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.ok(new Date(ca.validTo).getTime() - now.getTime() > 3000 * DAY, 'the CA lasts years');
  const servingDays = (new Date(serving.validTo).getTime() - now.getTime()) / DAY;
  assert.ok(servingDays > 364 && servingDays <= 365, `${servingDays}`);
  assert.ok(new Date(serving.validFrom).getTime() < now.getTime(), 'backdated for clock skew');
  assert.notEqual(ca.serialNumber, serving.serialNumber);
  assert.deepEqual(checkFleetCertificates(certs, identity, { now }), { action: 'reuse', notAfter: new Date(serving.validTo) });
});

test('renewal: reuse while valid, a new serving certificate from the same CA when it nears expiry or names change, a new CA when the CA does', async () => {
  const now = new Date();
  const certs = await generateFleetCertificates(identity, { now });

  assert.equal(checkFleetCertificates(certs, identity, { now: new Date(now.getTime() + 300 * DAY) }).action, 'reuse');
  const late = new Date(now.getTime() + 340 * DAY); // 25 days left
  const check = checkFleetCertificates(certs, identity, { now: late });
  assert.equal(check.action, 'reissue');
  assert.match('why' in check ? check.why : '', /the serving certificate expires/);
  const renewed = await renewFleetCertificates(certs, identity, { now: late });
  assert.equal(renewed.check.action, 'reissue');
  assert.equal(renewed.certs.ca.cert, certs.ca.cert, 'agents keep trusting the same CA');
  assert.notEqual(renewed.certs.serving.cert, certs.serving.cert);
  assert.equal(checkFleetCertificates(renewed.certs, identity, { now: late }).action, 'reuse');

  const moved = fleetServingIdentity({ serviceName: 'ssm-agent-operator', namespace: 'ssm-system', clusterIP: '10.96.0.99' });
  const namesChanged = checkFleetCertificates(certs, moved, { now });
  assert.equal(namesChanged.action, 'reissue');
  assert.match('why' in namesChanged ? namesChanged.why : '', /does not name 10\.96\.0\.99/);

  const caNearEnd = checkFleetCertificates(certs, identity, { now: new Date(now.getTime() + 3630 * DAY) });
  assert.equal(caNearEnd.action, 'regenerate');
  assert.equal((await renewFleetCertificates(undefined, identity)).check.action, 'generate');
});

test('mismatched or foreign material is not reused', async () => {
  const a = await generateFleetCertificates(identity);
  const b = await generateFleetCertificates(identity);
  assert.equal(checkFleetCertificates({ ca: a.ca, serving: b.serving }, identity).action, 'reissue', 'signed by another CA');
  assert.equal(checkFleetCertificates({ ca: a.ca, serving: { cert: a.serving.cert, key: b.serving.key } }, identity).action, 'reissue', 'wrong key');
  assert.equal(checkFleetCertificates({ ca: { cert: a.ca.cert, key: b.ca.key }, serving: a.serving }, identity).action, 'regenerate', 'wrong CA key');
  assert.equal(checkFleetCertificates({ ca: a.serving, serving: a.serving }, identity).action, 'regenerate', 'a leaf is no CA');
  assert.equal(checkFleetCertificates({ ca: { cert: 'garbage', key: 'garbage' }, serving: a.serving }, identity).action, 'regenerate');
  await assert.rejects(issueServingCertificate(a.ca, { dnsNames: [], ips: [] }), /at least one DNS name or IP/);
});

test('the Secret and the ConfigMap: kubernetes.io/tls keys plus the CA; only the CA certificate is published', async () => {
  const certs = await generateFleetCertificates(identity);
  const secret = buildFleetTlsSecret('ssm-system', certs);
  assert.equal(secret.type, 'kubernetes.io/tls');
  assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  assert.equal(secret.metadata.name, 'ssm-agent-operator-fleet-tls');
  assert.equal(secret.metadata.labels['app.kubernetes.io/managed-by'], 'ssm-agent-operator');
  assert.equal(secret.metadata.labels['ssmagent.io/config'], undefined, 'not a per-config object: never pruned');
  assert.deepEqual(fleetCertificatesFromSecret(secret), certs);
  assert.equal(fleetCertificatesFromSecret({ data: { 'tls.crt': secret.data['tls.crt'] ?? '' } }), undefined);
  const cm = buildFleetCaConfigMap('ssm-system', certs.ca.cert);
  assert.deepEqual(cm.data, { 'ca.crt': certs.ca.cert });
  assert.equal(cm.metadata.name, 'ssm-agent-operator-fleet-ca');
  assert.ok(!JSON.stringify(cm).includes('PRIVATE KEY'));
});
