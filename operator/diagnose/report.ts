// What `ssm-agent-operator diagnose` gets from the operator: one node's whole picture (host facts, steps with
// their fixes, registration, probes by phase), or one summary line per node. Built from the node agent's report
// over the fleet channel and the Node object. Pure; shared by the operator's endpoint and the CLI.
import type { HostFactsSummary, NodeState, ObservationSummary, ProbeDetail, ProbeSummary, StepOutcomeSummary } from '../api/fleet-protocol.ts';
import { nodeFailure } from '../fleet/fleet-store.ts';
import { probeFix, stepFix } from './fixes.ts';

export const DIAGNOSE_PATH = '/diagnose/v1/nodes';
/** The header that carries the caller's own bearer token through the API server's proxy (which drops Authorization). */
export const CALLER_TOKEN_HEADER = 'x-ssmagent-caller-token';
/** nodeadm (EKS Hybrid Nodes) labels its nodes so. */
export const HYBRID_COMPUTE_TYPE_LABEL = 'eks.amazonaws.com/compute-type';
export const HYBRID_COMPUTE_TYPE = 'hybrid';

export interface NodeObjectFacts {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface DiagnosedStep extends StepOutcomeSummary {
  fix?: string;
}

export interface DiagnosedProbe extends ProbeSummary {
  phases?: ProbeDetail['phases'];
  message?: string;
  httpStatus?: number;
  proxy?: string;
  noProxyMatch?: string;
  connectedAddress?: string;
  fix?: string;
}

export interface NodeDiagnosis {
  node: string;
  /** The config whose node agent reports for this node. */
  config?: string;
  /** Whether the node agent is connected to the operator now. */
  connected: boolean;
  /** How fresh the probes are: asked now and answered, asked but not answered in time, or not asked. */
  probe: 'fresh' | 'stale' | 'not-asked';
  nodeAgentVersion?: string;
  /** nodeadm (EKS Hybrid Nodes) owns the agent and its registration on this node. */
  externallyManaged?: 'nodeadm';
  facts?: HostFactsSummary;
  steps: DiagnosedStep[];
  observation?: ObservationSummary;
  registration: {
    instanceId?: string;
    region?: string;
    kind?: 'hybrid' | 'ec2';
    /** What the Node's ssmagent.io/managed-instance-id annotation says. */
    annotation?: string;
    registeredLabel?: string;
  };
  probes: DiagnosedProbe[];
  lastPass?: string;
  lastProbes?: string;
}

export interface NodeSummary {
  node: string;
  config?: string;
  connected: boolean;
  agentVersion?: string;
  instanceId?: string;
  externallyManaged?: 'nodeadm';
  /** Empty when the node is fine. */
  problems: string[];
}

export function isHybridNode(node: NodeObjectFacts | undefined): boolean {
  return node?.labels?.[HYBRID_COMPUTE_TYPE_LABEL] === HYBRID_COMPUTE_TYPE;
}

function instanceKind(id: string | undefined): 'hybrid' | 'ec2' | undefined {
  if (!id) return undefined;
  return id.startsWith('mi-') ? 'hybrid' : id.startsWith('i-') ? 'ec2' : undefined;
}

export function buildDiagnosis(input: {
  node: string;
  config?: string;
  connected: boolean;
  probe: NodeDiagnosis['probe'];
  nodeAgentVersion?: string;
  state?: NodeState;
  nodeObject?: NodeObjectFacts;
}): NodeDiagnosis {
  const state = input.state ?? {};
  const details = new Map((state.probeDetails ?? []).map((d) => [d.endpoint, d]));
  const instanceId = state.observation?.instanceId;
  const annotation = input.nodeObject?.annotations?.['ssmagent.io/managed-instance-id'];
  const registeredLabel = input.nodeObject?.labels?.['ssmagent.io/registered'];
  return {
    node: input.node,
    ...(input.config ? { config: input.config } : {}),
    connected: input.connected,
    probe: input.probe,
    ...(input.nodeAgentVersion ? { nodeAgentVersion: input.nodeAgentVersion } : {}),
    ...(isHybridNode(input.nodeObject) || state.facts?.externallyManaged === 'nodeadm' ? { externallyManaged: 'nodeadm' as const } : {}),
    ...(state.facts ? { facts: state.facts } : {}),
    steps: (state.steps ?? []).map((s) => {
      const fix = s.status === 'failed' || s.status === 'unsupported' || s.reason === 'ManagedByNodeadm' ? stepFix(s.reason) : undefined;
      return { ...s, ...(fix ? { fix } : {}) };
    }),
    ...(state.observation ? { observation: state.observation } : {}),
    registration: {
      ...(instanceId ? { instanceId } : {}),
      ...(state.observation?.region ? { region: state.observation.region } : {}),
      ...(instanceKind(instanceId) ? { kind: instanceKind(instanceId) } : {}),
      ...(annotation ? { annotation } : {}),
      ...(registeredLabel ? { registeredLabel } : {}),
    },
    probes: (state.probes ?? []).map((p) => {
      const d = details.get(p.endpoint);
      const fix = p.ok ? undefined : probeFix(p.reason);
      return {
        ...p,
        ...(d ? { phases: d.phases } : {}),
        ...(d?.message ? { message: d.message } : {}),
        ...(d?.httpStatus !== undefined ? { httpStatus: d.httpStatus } : {}),
        ...(d?.proxy ? { proxy: d.proxy } : {}),
        ...(d?.noProxyMatch ? { noProxyMatch: d.noProxyMatch } : {}),
        ...(d?.connectedAddress ? { connectedAddress: d.connectedAddress } : {}),
        ...(fix ? { fix } : {}),
      };
    }),
    ...(state.timestamps?.pass ? { lastPass: state.timestamps.pass } : {}),
    ...(state.timestamps?.probes ? { lastProbes: state.timestamps.probes } : {}),
  };
}

/** One line's worth: what is wrong with a node, if anything. */
export function summarizeNode(input: { node: string; config?: string; connected: boolean; state?: NodeState; nodeObject?: NodeObjectFacts; selected: boolean }): NodeSummary {
  const state = input.state;
  const problems: string[] = [];
  if (!state) {
    if (input.selected) problems.push('no node agent has reported');
  } else {
    if (!input.connected) problems.push('node agent disconnected');
    const failure = nodeFailure(state);
    if (failure) problems.push(`${failure.reason} (${failure.message})`);
    for (const p of state.probes ?? []) if (!p.ok) problems.push(`${p.endpoint}: ${p.reason ?? 'unreachable'}`);
  }
  const instanceId = state?.observation?.instanceId;
  const agentVersion = state?.observation?.version ?? state?.facts?.installedVersion;
  return {
    node: input.node,
    ...(input.config ? { config: input.config } : {}),
    connected: input.connected,
    ...(agentVersion ? { agentVersion } : {}),
    ...(instanceId ? { instanceId } : {}),
    ...(isHybridNode(input.nodeObject) || state?.facts?.externallyManaged === 'nodeadm' ? { externallyManaged: 'nodeadm' as const } : {}),
    problems,
  };
}
