// The operator process: reads its settings, runs until SIGTERM (graceful) or until it loses leadership (exits
// non-zero, so Kubernetes restarts it as a standby).
import { loadKubeAccess } from './kube/load-access.ts';
import { startOperator } from './manager/manager.ts';
import { createLogger } from './lib/logger.ts';
import { readSettings } from './settings.ts';

const log = createLogger('ssm-agent-operator');
const parsed = readSettings(process.env);
if (!parsed.ok) {
  for (const e of parsed.errors) log.fatal(e);
  process.exit(2);
}
// In a pod: the ServiceAccount files, read directly; @kubernetes/client-node is loaded only for a kubeconfig.
const access = await loadKubeAccess(process.env).catch((err: unknown) => {
  log.fatal(err instanceof Error ? err.message : String(err));
  process.exit(2);
});
// credentialSource, not credentials: that key is redacted (it may hold secrets); this one says only where they come from.
log.info({ server: access.server, credentialSource: access.source }, 'Kubernetes API');
const operator = await startOperator(access, parsed.settings, log).catch((err: unknown) => {
  log.fatal(err instanceof Error ? err.message : String(err));
  process.exit(2);
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    operator.stop().then(() => process.exit(0));
  });
}
const outcome = await operator.done;
if (outcome === 'lost-leadership') {
  log.error('leadership lost: exiting so that a fresh process waits for the lease');
  process.exit(1);
}
