// helm uninstall deletes the operator Service, and the garbage collector then deletes the leader Lease it owns. A
// replica still running (a standby whose SIGTERM comes a moment later) may find the Lease gone and create it again:
// that Lease must carry the Service as owner from its creation, or it outlives the release (seen once on the real
// cluster: "nothing of ours is left in the namespace" found Lease/ssm-agent-operator-leader).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { KubeClient } from '../../operator/kube/client.ts';
import { installationOwner } from '../../operator/kube/installation-owner.ts';
import { LeaderElector } from '../../operator/kube/leader-election.ts';
import { RESOURCES, resourcePath } from '../../operator/kube/resources.ts';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.ts';
import { waitFor } from '../harness/wait.ts';

const NS = 'ssm-system';
const SERVICE = 'ssm-agent-operator';
const LEASE = 'ssm-agent-operator-leader';
let cp: ControlPlane;
let client: KubeClient;

before(async () => {
  cp = await startControlPlane();
  client = new KubeClient(cp.kubeConfig());
  await client.request('POST', resourcePath(RESOURCES.namespace), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
});

after(async () => {
  client?.close();
  await cp?.stop();
});

test('a Lease created after the operator Service is gone is owned by it from creation, so the garbage collector removes it', async () => {
  await client.request('POST', resourcePath(RESOURCES.service, { namespace: NS }), {
    body: { apiVersion: 'v1', kind: 'Service', metadata: { name: SERVICE, namespace: NS }, spec: { ports: [{ port: 8080 }] } },
  });
  // The replica learned its owner when it started, as the operator does before campaigning.
  const owner = await installationOwner(client, NS, SERVICE);
  assert.ok(owner, 'the Service is there at start');
  // helm uninstall: the Service goes first.
  await client.request('DELETE', resourcePath(RESOURCES.service, { namespace: NS, name: SERVICE }));
  const elector = new LeaderElector({ client, namespace: NS, name: LEASE, identity: 'standby', log: pino({ level: 'silent' }), owner, retryPeriodMs: 200 });
  const abort = new AbortController();
  assert.equal(await elector.acquire(abort.signal), true, 'the standby takes the (missing) lease');
  const path = resourcePath(RESOURCES.lease, { namespace: NS, name: LEASE });
  const created = await client.get<{ metadata: { ownerReferences?: { uid: string }[] } }>(path).catch(() => undefined);
  // Either the garbage collector was already quicker than this read, or the Lease names the Service.
  if (created) assert.deepEqual(created.metadata.ownerReferences?.map((o) => o.uid), [owner.uid]);
  await waitFor('the garbage collector to delete the Lease of the deleted Service', async () => ((await client.get(path).catch(() => undefined)) === undefined ? true : undefined), 60_000);
  abort.abort();
});
