// Writes core/v1 Events about SsmAgentConfigs (built by manifests/event.ts: cluster-scoped objects' Events live in
// "default", where `kubectl describe sac NAME` finds them). Best effort: a failure is logged, never thrown.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { API_VERSION, KIND } from '../api/group.ts';
import type { SsmAgentConfig } from '../api/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { errorMessage } from '../kube/informer.ts';
import * as kube from '../kube/objects.ts';
import { buildEvent } from '../manifests/event.ts';
import type { TransitionEvent } from './status.ts';

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
    const subject = { apiVersion: API_VERSION, kind: KIND, name: config.metadata.name, uid: config.metadata.uid };
    const body = buildEvent(subject, event, { component: this.component, instance: this.instance }, new Date(), randomBytes(3).toString('hex'));
    try {
      await kube.create(this.client, body);
    } catch (err) {
      // Events are best effort: a failure to record one must never fail a reconcile.
      this.log.warn({ err: errorMessage(err), reason: event.reason }, 'could not record event');
    }
  }
}
