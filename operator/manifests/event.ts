// A core/v1 Event about an object, where `kubectl describe` finds it: in the object's namespace, or in "default"
// for a cluster-scoped object (an SsmAgentConfig). Pure; controllers/event-recorder.ts writes it.

/** Where Events about cluster-scoped objects go (the chart's events Role is in this namespace). */
export const CLUSTER_SCOPED_EVENTS_NAMESPACE = 'default';
const MAX_MESSAGE = 1024;

export interface EventSubject {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  /** absent for a cluster-scoped object */
  namespace?: string;
}

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** `suffix` makes the name unique (the recorder's random part); `reporter` is the component and this replica. */
export function buildEvent(subject: EventSubject, event: EventInput, reporter: { component: string; instance: string }, at: Date, suffix: string) {
  const now = at.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${subject.name}.${at.getTime().toString(16)}${suffix}`, namespace: subject.namespace ?? CLUSTER_SCOPED_EVENTS_NAMESPACE },
    involvedObject: { apiVersion: subject.apiVersion, kind: subject.kind, name: subject.name, uid: subject.uid, ...(subject.namespace ? { namespace: subject.namespace } : {}) },
    type: event.type,
    reason: event.reason,
    message: event.message.slice(0, MAX_MESSAGE),
    source: { component: reporter.component },
    reportingComponent: reporter.component,
    reportingInstance: reporter.instance,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}
