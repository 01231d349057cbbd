// The one controller runtime, in the manner of controller-runtime: a Reconciler decides for one key, and the
// Controller around it owns the work queue, the workers, the metrics and the retries. Every loop of the operator
// (the SsmAgentConfig controller, the SSM sync) is one of these; none schedules work by itself.
import type { Logger } from 'pino';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { errorMessage } from '../lib/errors.ts';
import { WorkQueue, type WorkQueueOptions } from './work-queue.ts';

/**
 * What one reconcile says: `{}` done; `error` retry with the queue's per-key backoff; `requeueAfterMs` look again
 * after that long (waiting on something that reports no event of its own). An error wins over a requeue.
 */
export interface ReconcileResult {
  error?: string;
  requeueAfterMs?: number;
}

export interface Reconciler {
  reconcile(key: string): Promise<ReconcileResult>;
}

export interface ControllerOptions {
  /** the `controller` label of the metrics */
  name: string;
  reconciler: Reconciler;
  workers: number;
  log: Logger;
  metrics: Pick<OperatorMetrics, 'reconcileTotal' | 'reconcileDuration' | 'workQueueDepth'>;
  /** the per-key retry backoff and the overall retry rate */
  queue?: WorkQueueOptions;
  /** what a failed reconcile is logged as */
  failureMessage?: string;
}

export class Controller {
  readonly name: string;
  private readonly opts: ControllerOptions;
  private readonly queue: WorkQueue;
  private workers: Promise<void>[] = [];

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.queue = new WorkQueue(opts.queue);
  }

  /** Queues a key (at most once; a key being reconciled runs again afterwards). Keys queued before start() wait. */
  enqueue(key: string): void {
    this.queue.add(key);
    this.depth();
  }

  /** Queues a key after a delay; an earlier pending delay for the same key wins. */
  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  start(): void {
    if (this.workers.length > 0) return;
    this.workers = Array.from({ length: Math.max(1, this.opts.workers) }, () => this.work());
  }

  /** Stops taking keys and waits for the reconciles under way. */
  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.workers);
    this.workers = [];
  }

  private depth(): void {
    this.opts.metrics.workQueueDepth.set({ controller: this.name }, this.queue.length);
  }

  private async work(): Promise<void> {
    const { reconciler, metrics } = this.opts;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = metrics.reconcileDuration.startTimer({ controller: this.name });
      let result = 'success';
      try {
        const r = await reconciler.reconcile(key);
        if (r.error) {
          result = 'error';
          this.retry(key, r.error);
        } else {
          this.queue.forget(key);
          if (r.requeueAfterMs) this.queue.addAfter(key, r.requeueAfterMs);
        }
      } catch (err) {
        result = 'error';
        this.retry(key, errorMessage(err));
      } finally {
        end();
        metrics.reconcileTotal.inc({ controller: this.name, result });
        this.queue.done(key);
        this.depth();
      }
    }
  }

  private retry(key: string, error: string): void {
    const retryInMs = this.queue.addRateLimited(key);
    this.opts.log.warn({ controller: this.name, config: key, err: error, failures: this.queue.numRequeues(key), retryInMs }, this.opts.failureMessage ?? 'reconcile failed');
  }
}
