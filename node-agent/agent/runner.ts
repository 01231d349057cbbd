// The node agent's loop: a pass over the host on an interval (and when asked), and the connectivity probes on
// their own interval. One pass at a time; nothing here knows whether it runs in a test.
import type { Logger } from 'pino';
import type { NodeAgentConfig } from '../../operator/api/node-agent-config.ts';
import type { EffectiveConfig } from '../config/effective.ts';
import { resolveEffectiveConfig, type ReadSecret } from '../config/mounted-secrets.ts';
import { readConfigFile } from './config-source.ts';
import { ReasonedError } from '../../operator/lib/errors.ts';
import { recordPass, recordReadiness, type NodeAgentMetrics } from './metrics.ts';
import type { HostConverger, PassReport } from './pass.ts';
import { nextPassDelayMs } from './pass-schedule.ts';
import { convergence, type Readiness } from './readiness.ts';

export interface RunnerOptions {
  configFile: string;
  converger: HostConverger;
  metrics: NodeAgentMetrics;
  log: Logger;
  passIntervalMs: number;
  /** Reads one key of a mounted Secret (default: the file dir/key), once per pass. */
  readSecret?: ReadSecret;
  /** One probe round, with the configuration the last pass resolved; every connectivity.intervalSeconds. */
  probe?: (effective: EffectiveConfig, how: { requested: boolean }) => Promise<void>;
  /** Told after every pass (the fleet channel will report from here). */
  onPass?: (report: PassReport, config: NodeAgentConfig) => void;
}

export class NodeAgentRunner {
  private readonly opts: RunnerOptions;
  private config?: NodeAgentConfig;
  private configText?: string;
  private configError?: string;
  /** The last pass's effective configuration (its Secret-backed values), which the probes use too. */
  private effective?: EffectiveConfig;
  private stopped = false;
  private readonly stopping = new AbortController();
  private wake?: () => void;
  private pending = true;
  private loop?: Promise<void>;
  private probeTimer?: NodeJS.Timeout;
  /** The operator asked for a round (probe-now): the next one is reported even if nothing changed. */
  private probeRequested = false;
  lastPass?: PassReport;
  private lastLoopAt = Date.now();
  /** passes in a row that left the host unconverged: the next one comes sooner than the interval, with backoff */
  private unconvergedPasses = 0;

  constructor(opts: RunnerOptions) {
    this.opts = opts;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Asks for a pass as soon as the current one (if any) ends. */
  trigger(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Runs a probe round now (the operator asked for one). */
  probeNow(): void {
    this.probeRequested = true;
    this.scheduleProbes(0);
  }

  /** Ready: the last pass converged the host to this pod's revision (see readiness.ts). */
  readiness(): Readiness {
    return convergence(this.lastPass, this.config, this.configError);
  }

  /** Alive: the loop has come round recently (a hung host command would stop it). */
  healthy(): boolean {
    return Date.now() - this.lastLoopAt < this.opts.passIntervalMs * 3 + 600_000;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    clearTimeout(this.probeTimer);
    this.wake?.();
    await this.loop;
  }

  private async reloadConfig(): Promise<void> {
    // The pod's revision is immutable: once read, it is this process's configuration for good. A new revision
    // comes as a new pod (the DaemonSet's rolling update), never as a file changing under this one.
    if (this.config) return;
    const read = await readConfigFile(this.opts.configFile);
    if (!read.ok) {
      this.configError = read.message;
      this.opts.metrics.configValid.set(0);
      recordReadiness(this.opts.metrics, this.readiness());
      this.opts.log.error({ err: read.message, reason: read.reason }, this.config ? 'invalid configuration; keeping the last good one' : 'no valid configuration yet');
      return;
    }
    this.opts.metrics.configValid.set(1);
    this.configError = undefined;
    if (read.text === this.configText) return;
    const first = !this.config;
    this.config = read.config;
    this.configText = read.text;
    this.opts.log.info({ config: read.config.configName, region: read.config.region, action: read.config.action }, first ? 'configuration loaded' : 'configuration changed');
  }

  private scheduleProbes(delayMs: number): void {
    clearTimeout(this.probeTimer);
    const probe = this.opts.probe;
    if (!probe || this.stopped || !this.effective) return;
    this.probeTimer = setTimeout(() => {
      const effective = this.effective;
      if (!effective) return;
      const requested = this.probeRequested;
      this.probeRequested = false;
      probe(effective, { requested })
        .catch((err: Error) => this.opts.log.warn({ err: err.message, ...(err instanceof ReasonedError ? { reason: err.reason } : {}) }, 'probe round failed'))
        .finally(() => this.scheduleProbes(effective.config.connectivity.intervalSeconds * 1000));
    }, delayMs);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.lastLoopAt = Date.now();
      if (this.pending) {
        this.pending = false;
        await this.reloadConfig();
        if (this.config) await this.passOnce(this.config);
      }
      if (this.stopped) break; // stop() may have come during the pass, with no sleep yet to wake
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.pending = true;
          resolve();
        }, nextPassDelayMs(this.unconvergedPasses, this.opts.passIntervalMs));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private async passOnce(config: NodeAgentConfig): Promise<void> {
    // The Secret-backed values are resolved once, here, for the whole pass and the probes until the next one.
    const effective = await resolveEffectiveConfig(config, this.opts.readSecret);
    const first = !this.effective;
    this.effective = effective;
    if (first) this.scheduleProbes(0);
    const report = await this.opts.converger.pass(effective, this.stopping.signal);
    this.lastPass = report;
    recordPass(this.opts.metrics, report, config.registration.mode);
    const readiness = this.readiness();
    recordReadiness(this.opts.metrics, readiness);
    this.unconvergedPasses = readiness.ready ? 0 : this.unconvergedPasses + 1;
    if (!readiness.ready) this.opts.log.warn({ step: readiness.step, reason: readiness.reason, err: readiness.message }, 'host not converged: the pod stays unready');
    for (const o of report.outcomes) {
      if (o.status === 'changed') this.opts.log.info({ step: o.step, change: o.message }, 'host step changed the host');
      else if (o.status === 'failed' || o.status === 'unsupported') this.opts.log.warn({ step: o.step, reason: o.reason, err: o.message }, `host step ${o.status}`);
    }
    this.opts.onPass?.(report, config);
  }
}
