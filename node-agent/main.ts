// The node-agent process, one per node in the privileged DaemonSet: converges the host (install, configure,
// ssm-user, register) on an interval and on every configuration change, probes the SSM endpoints, and serves
// /healthz and /metrics. Host access goes through nsenter into HOST_PID (PID 1 of the node).
import { rm } from 'node:fs/promises';
import { HOST_COMMAND_MAX_SECONDS, NODE_AGENT_ENV } from '../operator/api/node-agent-config.ts';
import { startHttpServer } from '../operator/lib/http-server.ts';
import { createLogger } from '../operator/lib/logger.ts';
import { HostConverger } from './agent/pass.ts';
import { hostCaBundle } from './agent/host-ca-bundle.ts';
import { createNodeAgentMetrics } from './agent/metrics.ts';
import { NodeAgentRunner } from './agent/runner.ts';
import { readinessText } from './agent/readiness.ts';
import { NsenterHost } from './host/nsenter-host.ts';
import { createAgentPackages } from './package/agent-packages.ts';
import { probeAll, probeConfig } from './probes/probe-all.ts';
import { registerProbeMetrics } from './probes/probe-metrics.ts';
import { readNodeAgentSettings } from './settings.ts';
import { NODE_AGENT_DOWNLOAD_DIR } from './steps/paths.ts';
import type { FleetClient } from './fleet/client.ts';

import pkg from '../package.json' with { type: 'json' };

/** Reported to the operator: the package's version (one image holds both processes). */
const NODE_AGENT_VERSION = pkg.version;

const log = createLogger('ssm-node-agent');
const parsed = readNodeAgentSettings(process.env);
if (!parsed.ok) {
  for (const e of parsed.errors) log.fatal(e);
  process.exit(2);
}
const settings = parsed.settings;

const metrics = createNodeAgentMetrics();
const probeMetrics = registerProbeMetrics(metrics.registry);
const host = new NsenterHost(settings.hostPid);
// Downloads go to the host's disk (see NODE_AGENT_DOWNLOAD_DIR). One node agent runs per node, so whatever is there
// was left by a predecessor that was killed mid-download.
const downloadDir = host.hostPath(NODE_AGENT_DOWNLOAD_DIR);
await rm(downloadDir, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, dir: NODE_AGENT_DOWNLOAD_DIR }, 'cannot clear the download directory'));
// A host whose bundles cannot be looked at (not: has none) is said so: the probes then trust the image's roots,
// and a corporate CA on the host would look like tls_untrusted.
const probeCaFile =
  settings.probeCaFile ??
  (await hostCaBundle(host).catch((err: unknown) => {
    log.warn({ err }, "cannot look for the host's CA bundle; the probes trust the node agent's own roots");
    return undefined;
  }));
const converger = new HostConverger({
  host,
  packages: createAgentPackages({
    workDir: downloadDir,
    onWarning: (message) => log.warn({ node: settings.nodeName }, message),
  }),
  imdsEndpoint: settings.imdsEndpoint,
});
// The fleet client (and its WebSocket library) is loaded only when the operator configured the channel.
// The fleet channel's code (ws, the report builders) loads only when the channel is configured.
const fleetModule = process.env[NODE_AGENT_ENV.fleetEndpoint]?.trim()
  ? { ...(await import('./fleet/client.ts')), ...(await import('./fleet/report.ts')), ...(await import('./fleet/settings.ts')) }
  : undefined;
const fleetSettings = fleetModule ? fleetModule.readFleetClientSettings(process.env) : ({ ok: true, settings: undefined } as const);
if (!fleetSettings.ok) {
  for (const e of fleetSettings.errors) log.fatal(e);
  process.exit(2);
}
// The channel to the operator starts with the first pass, which tells which config this node serves.
let fleet: FleetClient | undefined;
function fleetFor(configName: string): FleetClient | undefined {
  const s = fleetSettings.ok ? fleetSettings.settings : undefined;
  if (!s || !fleetModule || fleet) return fleet;
  fleet = new fleetModule.FleetClient({
    url: s.url,
    tokenFile: s.tokenFile,
    caFile: s.caFile,
    heartbeatSeconds: s.heartbeatSeconds,
    nodeName: settings.nodeName,
    configName,
    nodeAgentVersion: NODE_AGENT_VERSION,
    log: log.child({ component: 'fleet' }),
    onProbeNow: () => runner.probeNow(),
  });
  fleet.start();
  return fleet;
}

const runner = new NodeAgentRunner({
  configFile: settings.configFile,
  converger,
  metrics,
  log: log.child({ node: settings.nodeName }),
  passIntervalMs: settings.passIntervalMs,
  onPass: (report, config) => {
    if (fleetModule) fleetFor(config.configName)?.update(fleetModule.stateFromPass(report, settings.revision));
  },
  probe: async (effective, how) => {
    const { config } = effective;
    const results = await probeAll(probeConfig(effective), probeCaFile ? { caFile: probeCaFile } : {});
    probeMetrics.update(results);
    if (fleetModule) fleetFor(config.configName)?.update(fleetModule.stateFromProbes(results), { force: how.requested });
    for (const r of results.filter((x) => !x.ok)) log.warn({ endpoint: r.endpoint, host: r.host, via: r.via, reason: r.reason, err: r.message }, 'endpoint unreachable');
  },
});

const server = await startHttpServer({
  port: settings.metricsPort,
  registry: metrics.registry,
  live: () => (runner.healthy() ? { ok: true, detail: 'ok' } : { ok: false, detail: 'the host pass is stuck' }),
  // Ready = this host converged to this pod's revision: the DaemonSet's rolling update waits for it.
  ready: () => {
    const r = runner.readiness();
    return { ok: r.ready, detail: readinessText(r, settings.revision) };
  },
});
log.info({ port: settings.metricsPort, hostPid: settings.hostPid }, 'node agent started');
runner.start();

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'shutting down');
    // The step running finishes (a dpkg, rpm or register is never cut in half) and no further one starts; the
    // pods' terminationGracePeriodSeconds covers this (HOST_COMMAND_MAX_SECONDS + 30).
    const force = setTimeout(() => process.exit(1), (HOST_COMMAND_MAX_SECONDS + 20) * 1000);
    force.unref();
    void Promise.all([runner.stop(), fleet?.stop()]).then(() => server.close(() => process.exit(0)));
  });
}
