// A node agent's fleet side without a host: a real FleetClient with a real bound token for a Pod on the node,
// so the operator authenticates it exactly as it would a node agent in its DaemonSet.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FLEET_PATH } from '../../operator/api/fleet-protocol.ts';
import type { KubeClient } from '../../operator/kube/client.ts';
import { FleetClient } from '../../node-agent/fleet/client.ts';
import { createBoundPod, requestToken } from './node-agent-identity.ts';

export async function connectFakeAgent(opts: { client: KubeClient; namespace: string; node: string; config: string; fleetPort: number; caFile: string; workDir: string; log: Logger }): Promise<FleetClient> {
  const serviceAccount = `ssm-node-agent-${opts.config}`;
  const pod = `agent-${opts.node}`;
  const uid = await createBoundPod(opts.client, opts.namespace, pod, opts.node, serviceAccount);
  const tokenFile = join(opts.workDir, `${opts.node}.token`);
  writeFileSync(tokenFile, await requestToken(opts.client, opts.namespace, serviceAccount, { name: pod, uid }));
  const client = new FleetClient({
    url: `wss://127.0.0.1:${opts.fleetPort}${FLEET_PATH}`,
    tokenFile,
    caFile: opts.caFile,
    nodeName: opts.node,
    configName: opts.config,
    nodeAgentVersion: 'test',
    log: opts.log,
    backoff: { initialMs: 100, maxMs: 1000 },
  });
  client.start();
  return client;
}
