// The diagnosis endpoint inside the operator (leader only): it serves the fleet channel's certificate and reads the
// fleet's reports and the Node cache.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import type { FleetStore } from '../fleet/fleet-store.ts';
import type { FreshProbes } from '../diagnose/fresh-probes.ts';
import type { NodeObjectFacts } from '../diagnose/report.ts';
import { DiagnoseServer } from '../diagnose/server.ts';
import type { FleetWiring } from './fleet-wiring.ts';

export interface DiagnoseWiring {
  server: DiagnoseServer;
  stop(): Promise<void>;
}

export async function startDiagnose(opts: {
  client: KubeClient;
  log: Logger;
  port: number;
  fleet: FleetWiring;
  fresh: FreshProbes;
  store: FleetStore;
  nodes: () => { name: string; meta: NodeObjectFacts }[];
}): Promise<DiagnoseWiring> {
  const server = await DiagnoseServer.start({
    client: opts.client,
    log: opts.log.child({ component: 'diagnose' }),
    tls: opts.fleet.tls(),
    port: opts.port,
    fleet: opts.fleet.server,
    fresh: opts.fresh,
    report: (node) => {
      const e = opts.store.get(node);
      return e ? { config: e.config, state: e.state, connected: e.connected } : undefined;
    },
    nodes: opts.nodes,
  });
  opts.fleet.onTlsChange((tls) => server.updateTls(tls));
  return { server, stop: () => server.close() };
}
