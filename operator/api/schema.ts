// The SsmAgentConfig API, written once. The CRD (crds/ and the chart), the TypeScript types and the
// runtime validation are all generated from these schemas: change the API here and run `npm run generate`.
import { CloneType, Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { EndpointName } from './regions.ts';
import { AnnotationMap, cel, Duration, HttpUrl, IntOrString, LabelMap, MatchingString, qualifiedName, QUALIFIED_NAME_HELP, StringEnum } from './schema-helpers.ts';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const HOST_NAME = '^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\\\\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$';

export const SecretReference = Type.Object(
  {
    name: MatchingString(DNS_LABEL, 'must be a Secret name (lowercase letters, digits, "-" and ".")', {
      description: "Name of a Secret in the operator's namespace.",
      maxLength: 253,
    }),
  },
  { description: "A Secret in the operator's namespace (the node agents run there and can mount only Secrets of their own namespace)." },
);

export const Toleration = Type.Object(
  {
    key: Type.Optional(
      Type.String({
        maxLength: 317,
        description: 'Taint key the toleration applies to; empty with operator Exists matches every taint.',
        ...cel({ rule: `self == '' || ${qualifiedName('self')}`, message: `must be empty or a label key: ${QUALIFIED_NAME_HELP}` }),
      }),
    ),
    operator: Type.Optional(StringEnum(['Exists', 'Equal'] as const, { description: 'Exists or Equal (default Equal).' })),
    value: Type.Optional(Type.String({ maxLength: 63, description: 'Taint value to match when operator is Equal.' })),
    effect: Type.Optional(StringEnum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const, { description: 'Taint effect to match; empty matches all effects.' })),
    tolerationSeconds: Type.Optional(Type.Integer({ description: 'For NoExecute: how long the pod stays bound after the taint appears.' })),
  },
  {
    description: 'A Kubernetes toleration, copied to the node-agent pods and used to decide which nodes a config covers.',
    ...cel({ rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''", message: 'value must be empty when operator is Exists' }),
  },
);

const NodeSelectorRequirement = Type.Object(
  {
    key: Type.String({ maxLength: 317, description: 'Label key (or field name for matchFields).', ...cel({ rule: qualifiedName('self'), message: `must be a label key: ${QUALIFIED_NAME_HELP}` }) }),
    operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'] as const, { description: 'How the key relates to values.' }),
    values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64, description: 'Values for In/NotIn (one or more), Gt/Lt (exactly one integer); empty for Exists/DoesNotExist.' })),
  },
  { description: 'A node selector requirement, as in core/v1 NodeSelectorRequirement.' },
);

const NodeSelectorTerm = Type.Object(
  {
    matchExpressions: Type.Optional(Type.Array(NodeSelectorRequirement, { maxItems: 32, description: "Requirements on the node's labels, ANDed." })),
    matchFields: Type.Optional(Type.Array(NodeSelectorRequirement, { maxItems: 32, description: "Requirements on the node's fields (metadata.name), ANDed." })),
  },
  { description: 'A node selector term; terms are ORed.' },
);

export const Affinity = Type.Object(
  {
    nodeAffinity: Type.Optional(
      Type.Object(
        {
          requiredDuringSchedulingIgnoredDuringExecution: Type.Optional(
            Type.Object(
              { nodeSelectorTerms: Type.Array(NodeSelectorTerm, { minItems: 1, maxItems: 32, description: 'The node must match at least one term.' }) },
              { description: 'Hard node requirements: which nodes the config covers.' },
            ),
          ),
          preferredDuringSchedulingIgnoredDuringExecution: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  weight: Type.Integer({ minimum: 1, maximum: 100, description: 'Weight 1-100.' }),
                  preference: NodeSelectorTerm,
                },
                { description: 'A weighted preference.' },
              ),
              { maxItems: 32, description: 'Soft preferences (DaemonSets ignore these; kept for completeness).' },
            ),
          ),
        },
        { description: 'Node affinity of the node-agent pods, as in core/v1 NodeAffinity.' },
      ),
    ),
  },
  { description: 'Affinity of the node-agent pods. Only node affinity applies to a DaemonSet.' },
);

export const AgentSource = Type.Object(
  {
    mirror: Type.Optional(
      HttpUrl({
        credentials:
          "must not carry credentials (user:password@): they would be stored in clear in the SsmAgentConfig and the node agents' ConfigMap; put them in a Secret (keys username, password) and name it in spec.agent.source.mirrorSecretRef instead",
        description:
          'Base URL of a mirror of the agent packages (air-gapped clusters). The node agent fetches {mirror}/{version}/{os_arch}/amazon-ssm-agent.{deb|rpm} and .sig, the same layout as the regional S3 bucket. https:// unless agent.version is pinned and agent.sha256 set. Default: the AWS regional bucket.',
      }),
    ),
    mirrorSecretRef: Type.Optional(
      Type.Object(
        { name: SecretReference.properties.name },
        {
          description:
            "A Secret in the operator's namespace with keys username and password: HTTP basic credentials for the mirror (sent to the mirror's own origin only, never across a redirect). Its content counts in the revision and never enters a ConfigMap.",
        },
      ),
    ),
    signingKeys: Type.Optional(
      Type.Object(
        {
          configMap: MatchingString(DNS_LABEL, 'must be a ConfigMap name (lowercase letters, digits, "-" and ".")', {
            maxLength: 253,
            description: "Name of a ConfigMap in the operator's namespace.",
          }),
          key: Type.String({ default: 'keys.asc', minLength: 1, maxLength: 253, description: 'Key of the ConfigMap that holds the OpenPGP public keys (armored).' }),
        },
        {
          description:
            "Public keys that replace the AWS agent signing keys built into the node agent, for a mirror that re-signs the packages. Default: AWS's keys.",
        },
      ),
    ),
    caBundle: Type.Optional(
      Type.Object(
        {
          configMap: MatchingString(DNS_LABEL, 'must be a ConfigMap name (lowercase letters, digits, "-" and ".")', {
            maxLength: 253,
            description: "Name of a ConfigMap in the operator's namespace.",
          }),
          key: MatchingString('^[-._a-zA-Z0-9]+$', 'must be a ConfigMap key (letters, digits, "-", "_" and ".")', {
            default: 'ca.crt',
            maxLength: 253,
            description: 'Key of the ConfigMap that holds the PEM certificates.',
          }),
        },
        {
          description:
            "PEM CA certificates trusted for an https:// mirror instead of the public roots: for a mirror behind a private CA (air-gapped). The node agents use them for the package, its .sig and latest/VERSION; the operator for latest/VERSION. Public material, so a ConfigMap; its content counts in the revision.",
        },
      ),
    ),
  },
  {
    description: 'Where the agent package is downloaded from.',
    ...cel(
      { rule: '!has(self.mirrorSecretRef) || has(self.mirror)', message: 'mirrorSecretRef needs mirror: the credentials are for a mirror, never for the AWS bucket', fieldPath: '.mirror', reason: 'FieldValueRequired' },
      { rule: '!has(self.caBundle) || has(self.mirror)', message: 'caBundle needs mirror: it is trusted for the mirror only, never for the AWS bucket', fieldPath: '.mirror', reason: 'FieldValueRequired' },
    ),
  },
);

export const Agent = Type.Object(
  {
    version: Type.String({
      default: 'latest',
      maxLength: 32,
      description: 'Agent version to keep installed: "latest" or a pinned four-part version such as "3.3.1142.0".',
      ...cel({ rule: "self == 'latest' || self.matches('^[0-9]+\\\\.[0-9]+\\\\.[0-9]+\\\\.[0-9]+$')", message: 'must be "latest" or a four-part version such as 3.3.1142.0' }),
    }),
    source: Type.Optional(AgentSource),
    verify: StringEnum(['Signature', 'Checksum', 'None'] as const, {
      default: 'Signature',
      description: "How the package is verified before install: Signature (the agent's GPG signature), Checksum (sha256 below), or None (not recommended; a warning is raised).",
    }),
    sha256: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'Expected sha256 of the pinned package: required when verify is Checksum or the mirror is http:// (a pinned version is then required too); checked in every verify mode when set.',
        ...cel({ rule: "self.matches('^[a-f0-9]{64}$')", message: 'must be 64 lowercase hex digits (the sha256 of the package)' }),
      }),
    ),
    selfUpdate: Type.Boolean({ default: false, description: "Let the agent update itself. Default false: the operator, not the agent, decides versions." }),
    existingInstall: StringEnum(['Adopt', 'Replace'] as const, {
      default: 'Adopt',
      description: 'What to do with an agent already on the host (baked into the node image): Adopt keeps it and manages it; Replace reinstalls the desired version.',
    }),
  },
  {
    description: 'Which amazon-ssm-agent to install and how.',
    ...cel(
      { rule: "self.verify != 'Checksum' || has(self.sha256)", message: 'verify: Checksum needs sha256 (the sha256 of the pinned package)', fieldPath: '.sha256', reason: 'FieldValueRequired' },
      { rule: "self.verify != 'Checksum' || self.version != 'latest'", message: 'verify: Checksum needs a pinned version: a checksum cannot match "latest"', fieldPath: '.version' },
      // Over plain http anyone on the path can swap the package list and files; only a pinned sha256 still names
      // the one package to install (a signature alone would let an older signed package through).
      {
        rule: "!has(self.source) || !has(self.source.mirror) || !isURL(self.source.mirror) || url(self.source.mirror).getScheme() == 'https' || (has(self.sha256) && self.version != 'latest')",
        message: 'an http:// mirror is allowed only with the package pinned: use an https:// mirror, or pin agent.version and set agent.sha256 (the sha256 of that package)',
        fieldPath: '.source.mirror',
      },
    ),
  },
);

export const ManagedActivation = Type.Object(
  {
    iamRole: Type.String({ minLength: 1, maxLength: 64, description: 'IAM service role the managed instances assume, e.g. SSMServiceRole.' }),
    registrationLimit: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'How many hosts one activation may register (1-1000).' }),
    expirationDays: Type.Integer({ minimum: 1, maximum: 30, default: 30, description: 'Days until the activation expires (1-30); the operator rotates it before then.' }),
    tags: Type.Optional(
      Type.Record(Type.String(), Type.String({ maxLength: 256 }), {
        // SSM allows 50 tags per resource; the operator adds ssmagent.io/cluster, /config and /node.
        maxProperties: 47,
        description: 'Extra tags put on the activation and the managed instances (at most 47: SSM allows 50 and the operator adds 3).',
        ...cel(
          { rule: "self.all(k, size(k) >= 1 && size(k) <= 128 && !k.startsWith('aws:'))", message: 'tag keys must be 1-128 characters and must not start with aws: (reserved by AWS)' },
          { rule: "self.all(k, !k.startsWith('ssmagent.io/'))", message: 'tag keys under ssmagent.io/ are the operator\'s own' },
        ),
      }),
    ),
  },
  { description: 'An activation the operator creates, stores and rotates itself.' },
);

export const Activation = Type.Object(
  {
    secretRef: Type.Optional(
      Type.Object(
        { name: SecretReference.properties.name },
        { description: "A user-made Secret in the operator's namespace with keys activationId and activationCode." },
      ),
    ),
    managed: Type.Optional(ManagedActivation),
  },
  {
    description: 'Hybrid activation: exactly one of secretRef or managed.',
    ...cel({ rule: 'has(self.secretRef) != has(self.managed)', message: 'set exactly one of secretRef or managed' }),
  },
);

export const Registration = Type.Object(
  {
    mode: StringEnum(['Auto', 'EC2', 'Hybrid'] as const, {
      default: 'Auto',
      description: 'Auto: EC2 instance identity when IMDS answers, hybrid activation otherwise. EC2: only EC2 hosts. Hybrid: always register with an activation.',
    }),
    activation: Type.Optional(Activation),
    deregisterOnNodeDelete: Type.Boolean({ default: true, description: 'Deregister the managed instance (mi-…) when its Node is deleted.' }),
  },
  {
    description: 'How hosts register with Systems Manager.',
    ...cel(
      { rule: "self.mode != 'Hybrid' || has(self.activation)", message: 'mode Hybrid needs activation with exactly one of secretRef or managed', fieldPath: '.activation', reason: 'FieldValueRequired' },
      { rule: "self.mode != 'EC2' || !has(self.activation)", message: 'mode EC2 registers with the instance identity: remove activation, or use mode Auto or Hybrid', fieldPath: '.activation', reason: 'FieldValueForbidden' },
    ),
  },
);

export const SsmUser = Type.Object(
  {
    create: Type.Boolean({ default: true, description: 'Create ssm-user on the host up front (the agent would create it on first session otherwise).' }),
    sudo: Type.Boolean({ default: true, description: 'Give ssm-user passwordless sudo through /etc/sudoers.d/ssm-agent-users; false removes that file.' }),
    groups: Type.Optional(Type.Array(MatchingString('^[a-z_][a-z0-9_-]*[$]?$', 'must be a POSIX group name', { maxLength: 32, description: 'A group name.' }), { maxItems: 32, description: 'Extra groups ssm-user belongs to.' })),
  },
  { description: 'The ssm-user account used by Session Manager.' },
);

const PROXY_CREDENTIALS =
  "must not carry credentials (user:password@): they would be stored in clear in the SsmAgentConfig and the node agents' ConfigMap; put the proxy URLs in a Secret (keys httpsProxy, httpProxy) and name it in spec.proxy.secretRef instead";

export const Proxy = Type.Object(
  {
    httpsProxy: Type.Optional(HttpUrl({ description: 'Proxy for HTTPS traffic (https_proxy), e.g. http://proxy.example.com:3128.', credentials: PROXY_CREDENTIALS })),
    httpProxy: Type.Optional(HttpUrl({ description: 'Proxy for HTTP traffic (http_proxy).', credentials: PROXY_CREDENTIALS })),
    noProxy: Type.Optional(
      Type.Array(MatchingString('^[^\\\\s,]+$', 'must be one host, domain (.example.com), IP or CIDR without spaces or commas', { maxLength: 253, description: 'A host, domain suffix, IP or CIDR.' }), {
        maxItems: 128,
        description: 'Hosts that bypass the proxy (no_proxy). 169.254.169.254 (IMDS) is always added.',
      }),
    ),
    secretRef: Type.Optional(
      Type.Object(
        { name: SecretReference.properties.name },
        { description: "A Secret in the operator's namespace with keys httpsProxy and/or httpProxy, for proxy URLs that carry credentials." },
      ),
    ),
  },
  {
    description: 'HTTP proxy for the agent (a systemd drop-in with lowercase http_proxy/https_proxy/no_proxy) and for the connectivity probes.',
    ...cel({ rule: '!(has(self.secretRef) && (has(self.httpsProxy) || has(self.httpProxy)))', message: 'set the proxy URLs either inline or in secretRef, not both' }),
  },
);

const endpointHost = (service: string) =>
  Type.Optional(
    MatchingString(HOST_NAME, 'must be a DNS host name such as ssm.us-east-1.amazonaws.com or a VPC endpoint name, without https://', {
      maxLength: 253,
      description: `Host name for ${service} (VPC endpoint, FIPS or another partition). Default: ${service}.{region}.amazonaws.com (.amazonaws.com.cn in China).`,
    }),
  );

export const Endpoints = Type.Object(
  {
    ssm: endpointHost('ssm'),
    ec2messages: endpointHost('ec2messages'),
    ssmmessages: endpointHost('ssmmessages'),
    s3: endpointHost('s3'),
  } satisfies Record<EndpointName, TSchema>,
  { description: 'Endpoint overrides, written to amazon-ssm-agent.json and probed.' },
);

/**
 * An object field the API server fills in with its members' defaults when it is left out. The default is spelled
 * out in full because the API server validates a default as written, without nested defaulting.
 */
function defaulted<T extends TObject>(schema: T): T {
  return CloneType(schema, { default: Value.Default(schema, {}) });
}

export const Connectivity = Type.Object(
  {
    interval: Duration({ default: '60s', min: '5s', max: '24h', example: '60s or 5m', description: 'How often each node probes its endpoints (5s to 24h).' }),
    timeout: Duration({ default: '5s', min: '100ms', max: '60s', example: '5s', description: 'Timeout of each probe phase (100ms to 60s), shorter than interval.' }),
  },
  {
    description: 'Connectivity probes (DNS, TCP, TLS, HTTPS) from every node to the SSM endpoints.',
    ...cel({
      rule: "!self.interval.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || !self.timeout.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self.timeout) < duration(self.interval)",
      message: 'timeout must be shorter than interval',
    }),
  },
);

/** CEL: the quantity text of an int-or-string value (string() of an int is its decimal form). */
const quantityText = (v: string) => `string(${v})`;
const asQuantity = (v: string) => `isQuantity(${quantityText(v)})`;

/** A container's requests or limits: standard or domain-qualified resource names, valid non-negative quantities. */
function ResourceList(description: string) {
  return Type.Record(
    Type.String(),
    IntOrString({
      description: 'A quantity such as 100m, 64Mi or 1.',
      ...cel({ rule: `${asQuantity('self')} && !quantity(${quantityText('self')}).isLessThan(quantity('0'))`, message: 'must be a non-negative quantity such as 100m, 64Mi or 1' }),
    }),
    {
      maxProperties: 4,
      description,
      ...cel({ rule: "self.all(k, k in ['cpu', 'memory', 'ephemeral-storage'] || k.startsWith('hugepages-') || k.contains('/'))", message: 'resource names must be cpu, memory, ephemeral-storage, hugepages-<size> or a domain-qualified name' }),
    },
  );
}

export const DaemonSetOptions = Type.Object(
  {
    image: Type.Optional(
      MatchingString('^[^\\\\s]+$', 'must be an image reference without spaces, e.g. registry.example.com/ssm-agent-operator:0.1.0', {
        maxLength: 512,
        description: "Node-agent image. Default: the operator's own image.",
      }),
    ),
    imagePullSecrets: Type.Optional(Type.Array(Type.Object({ name: SecretReference.properties.name }, { description: 'A pull Secret.' }), { maxItems: 16, description: "Pull Secrets in the operator's namespace, added to the operator's own (chart value imagePullSecrets)." })),
    priorityClassName: Type.Optional(
      MatchingString(DNS_LABEL, 'must be a PriorityClass name (lowercase letters, digits, "-" and ".")', { maxLength: 253, description: "PriorityClass of the node-agent pods. Default: the operator's (chart value nodeAgent.priorityClassName, system-node-critical)." }),
    ),
    resources: Type.Optional(
      Type.Object(
        {
          requests: Type.Optional(ResourceList('Requested cpu/memory.')),
          limits: Type.Optional(ResourceList('cpu/memory limits.')),
        },
        {
          description: 'Resources of the node-agent container. Default: requests 50m/112Mi, limit 192Mi memory.',
          ...cel({
            // (a value that is no quantity is refused by its own rule, with its own message)
            rule: `!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || !quantity(${quantityText('self.requests[k]')}).isGreaterThan(quantity(${quantityText('self.limits[k]')})))`,
            message: 'requests must not exceed limits (the API server refuses such a pod)',
          }),
        },
      ),
    ),
    maxUnavailable: IntOrString({
      default: 1,
      description: 'How many nodes may have their node agent restarting at once during a rollout: a number >= 1 or a percentage such as "10%".',
      ...cel({ rule: "type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')", message: 'must be an integer >= 1 or a percentage from 1% to 100%' }),
    }),
    serviceAccountAnnotations: Type.Optional(AnnotationMap({ description: "Annotations on the node agents' ServiceAccount (e.g. eks.amazonaws.com/role-arn)." })),
    podAnnotations: Type.Optional(AnnotationMap({ description: 'Extra annotations on the node-agent pods.' })),
  },
  { description: 'How the node-agent DaemonSet runs.' },
);

const NodeCount = (description: string) =>
  IntOrString({
    description,
    ...cel({ rule: "type(self) == int ? self >= 0 : self.matches('^([0-9]|[1-9][0-9]|100)%$')", message: 'must be an integer >= 0 or a percentage from 0% to 100%' }),
  });

export const RolloutOptions = Type.Object(
  {
    paused: Type.Boolean({
      default: false,
      description:
        'Stop every change from reaching hosts: the node-agent DaemonSet stays on the last applied revision (a new node still gets that revision). Set back to false to roll the pending change out.',
    }),
    maxFailedNodes: Type.Optional(
      NodeCount(
        'Halt the rollout once this many nodes fail on the new revision (a number, or a percentage of the selected nodes rounded up; 0 halts at the first failure). Default: daemonSet.maxUnavailable. A halted rollout moves no further node until the revision changes (a spec or referenced-Secret change).',
      ),
    ),
  },
  { description: 'How a change of the node-agent configuration (a new revision) rolls out over the nodes.' },
);

export const SsmAgentConfigSpec = Type.Object(
  {
    region: Type.String({
      maxLength: 32,
      description: 'AWS region the hosts register in, e.g. us-east-1.',
      ...cel({ rule: "self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$')", message: 'must be an AWS region such as us-east-1, eu-west-2 or cn-north-1' }),
    }),
    nodeSelector: Type.Optional(LabelMap({ description: 'Labels a node must have to be covered by this config. Empty: every node.' })),
    tolerations: Type.Optional(Type.Array(Toleration, { maxItems: 64, description: 'Tolerations of the node-agent pods; a tainted node is covered only if tolerated. Default: none.' })),
    affinity: Type.Optional(Affinity),
    agent: defaulted(Agent),
    registration: defaulted(Registration),
    ssmUser: defaulted(SsmUser),
    proxy: Type.Optional(Proxy),
    endpoints: Type.Optional(Endpoints),
    connectivity: defaulted(Connectivity),
    deletionPolicy: StringEnum(['Retain', 'Uninstall'] as const, {
      default: 'Retain',
      description: 'When the config is deleted: Retain leaves the agent on the hosts; Uninstall removes it and deregisters the managed instances.',
    }),
    daemonSet: defaulted(DaemonSetOptions),
    rollout: defaulted(RolloutOptions),
  },
  { description: 'Desired state of the SSM agent on the selected nodes.' },
);

export const Condition = Type.Object(
  {
    type: Type.String({ maxLength: 316, description: 'Ready, Progressing, Degraded, Conflicted or ActivationReady.' }),
    status: StringEnum(['True', 'False', 'Unknown'] as const, { description: 'True, False or Unknown.' }),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'The generation this condition was computed for.' })),
    lastTransitionTime: Type.String({ format: 'date-time', description: 'When the status last changed.' }),
    reason: Type.String({ maxLength: 1024, description: 'CamelCase reason.' }),
    message: Type.String({ maxLength: 32768, description: 'Human-readable detail.' }),
  },
  { description: 'A standard Kubernetes condition.' },
);

const count = (what: string) => Type.Integer({ minimum: 0, description: what });

export const SsmAgentConfigStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'The generation of the spec this status describes.' })),
    conditions: Type.Optional(Type.Array(Condition, { maxItems: 16, description: 'Ready, Progressing, Degraded, Conflicted and ActivationReady.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })),
    nodes: Type.Optional(
      Type.Object(
        {
          desired: count('Nodes that should run the node agent (from the DaemonSet).'),
          ready: count('Nodes whose node-agent pod is ready.'),
          updated: count('Nodes whose node-agent pod runs the current configuration.'),
          installed: Type.Optional(count('Nodes with the agent installed (reported by the node agents).')),
          registered: Type.Optional(count('Nodes registered with Systems Manager (reported by the node agents).')),
          online: Type.Optional(count('Nodes whose agent Systems Manager sees Online.')),
          failing: Type.Optional(count('Nodes whose node agent reports a failing step.')),
        },
        { description: 'Node counts.' },
      ),
    ),
    agent: Type.Optional(
      Type.Object(
        {
          resolvedVersion: Type.Optional(Type.String({ maxLength: 32, description: 'The version the spec\'s agent.version stands for: the pin, or what "latest" resolved to (written into the revision).' })),
          resolvedAt: Type.Optional(Type.String({ format: 'date-time', description: 'When "latest" was last resolved.' })),
          message: Type.Optional(Type.String({ maxLength: 1024, description: 'Why "latest" could not be resolved (the fleet stays on the version above meanwhile).' })),
        },
        { description: 'The agent version the operator decided on.' },
      ),
    ),
    rollout: Type.Optional(
      Type.Object(
        {
          currentRevision: Type.String({ maxLength: 64, description: 'The revision (content hash) of the configuration the DaemonSet rolls out.' }),
          previousRevision: Type.Optional(Type.String({ maxLength: 64, description: 'The revision before it.' })),
          state: StringEnum(['RollingOut', 'RolloutComplete', 'Halted', 'Paused'] as const, { description: 'RollingOut, RolloutComplete, Halted or Paused.' }),
          updated: count('Nodes whose node-agent pod runs the current revision.'),
          converged: count('Of those, nodes whose host converged to it (pod ready).'),
          failed: count('Of those, nodes whose node agent reports a failing step.'),
          pendingRevision: Type.Optional(Type.String({ maxLength: 64, description: 'While paused: the revision the spec asks for, not rolled out yet.' })),
          haltedRevision: Type.Optional(Type.String({ maxLength: 64, description: 'The revision that halted: no node moves until the revision changes.' })),
          haltedGeneration: Type.Optional(Type.Integer({ minimum: 0, description: 'The spec generation the rollout halted at.' })),
        },
        { description: 'The rollout of the current revision over the nodes.' },
      ),
    ),
    agentVersions: Type.Optional(Type.Array(Type.Object({ version: Type.String({ description: 'Agent version.' }), count: count('Nodes running it.') }, { description: 'A version and its node count.' }), { maxItems: 64, description: 'Agent versions across the nodes.' })),
    activation: Type.Optional(
      Type.Object(
        {
          id: Type.String({ description: 'Activation id.' }),
          expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When it expires.' })),
          registrationsUsed: Type.Optional(count('Registrations used.')),
          registrationLimit: Type.Optional(count('Registration limit.')),
        },
        { description: 'The hybrid activation in use.' },
      ),
    ),
    failingNodes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            node: Type.String({ description: 'Node name.' }),
            reason: Type.String({ description: 'CamelCase reason.' }),
            message: Type.String({ description: 'Detail.' }),
            since: Type.String({ format: 'date-time', description: 'Failing since.' }),
          },
          { description: 'A failing node.' },
        ),
        { maxItems: 20, description: 'Up to 20 failing nodes, oldest failure first.' },
      ),
    ),
  },
  { description: 'Observed state, written by the operator.' },
);

export type SsmAgentConfigSpec = Static<typeof SsmAgentConfigSpec>;
export type SsmAgentConfigStatus = Static<typeof SsmAgentConfigStatus>;
export type Condition = Static<typeof Condition>;
export type Toleration = Static<typeof Toleration>;
export type Affinity = Static<typeof Affinity>;
