// Writes core/v1 Events about SsmAgentConfigs. Cluster-scoped objects' events live in "default", where
// `kubectl describe sac NAME` finds them.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { API_VERSION, KIND } from '../api/group.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import type { TransitionEvent } from './status.ts';

export const EVENT_NAMESPACE = 'default';

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly component: string;
  private readonly instance: string;

  constructor(client: KubeClient, log: Logger, component: string, instance: string) {
    this.client = client;
    this.log = log;
    this.component = component;
    this.instance = instance;
  }

  async record(config: SsmAgentConfig, event: TransitionEvent): Promise<void> {
    const now = new Date().toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${config.metadata.name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`, namespace: EVENT_NAMESPACE },
      involvedObject: { apiVersion: API_VERSION, kind: KIND, name: config.metadata.name, uid: config.metadata.uid },
      type: event.type,
      reason: event.reason,
      message: event.message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.client.request('POST', `/api/v1/namespaces/${EVENT_NAMESPACE}/events`, { body });
    } catch (err) {
      // Events are best effort: a failure to record one must never fail a reconcile.
      this.log.warn({ err: errorMessage(err), reason: event.reason }, 'could not record event');
    }
  }
}
