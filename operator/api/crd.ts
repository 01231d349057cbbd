// Builds the CustomResourceDefinition from the schema. Pure; `generate.ts` writes it to disk.
import { Type } from '@sinclair/typebox';
import { API_VERSION, CRD_NAME, GROUP, KIND, LIST_KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './group.ts';
import { SsmAgentConfigSpec, SsmAgentConfigStatus } from './schema.ts';
import { toOpenApi, type JsonValue } from './openapi.ts';

/** Kubernetes names of owned objects are derived from the config name, so it is kept short. */
export const MAX_CONFIG_NAME_LENGTH = 40;

export const SsmAgentConfigRoot = Type.Object(
  {
    apiVersion: Type.String({ description: `APIVersion: ${API_VERSION}.` }),
    kind: Type.String({ description: `Kind: ${KIND}.` }),
    metadata: Type.Object({}, { description: "Standard object metadata. The name is at most 40 characters (it names the config's DaemonSet)." }),
    spec: SsmAgentConfigSpec,
    status: Type.Optional(SsmAgentConfigStatus),
  },
  {
    description:
      'SsmAgentConfig keeps the AWS Systems Manager Agent installed, configured, registered and observed on the host of every selected node. Cluster-scoped: it runs privileged pods, so only cluster admins may create one.',
    'x-kubernetes-validations': [
      {
        rule: `size(self.metadata.name) <= ${MAX_CONFIG_NAME_LENGTH}`,
        message: `metadata.name must be at most ${MAX_CONFIG_NAME_LENGTH} characters: it names the config's node-agent DaemonSet`,
      },
    ],
  },
);

export function buildCrd(): { [key: string]: JsonValue } {
  const schema = toOpenApi(SsmAgentConfigRoot);
  // The API server owns the metadata schema: a CRD may say no more than its type.
  if (typeof schema.properties === 'object' && schema.properties !== null && !Array.isArray(schema.properties)) schema.properties.metadata = { type: 'object' };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      annotations: { 'ssmagent.io/generated-by': 'npm run generate (operator/api/generate.ts): do not edit' },
    },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: KIND, listKind: LIST_KIND, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES, categories: ['ssm'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Region', type: 'string', jsonPath: '.spec.region' },
            { name: 'Desired', type: 'integer', jsonPath: '.status.nodes.desired' },
            { name: 'Registered', type: 'integer', jsonPath: '.status.nodes.registered' },
            { name: 'Online', type: 'integer', jsonPath: '.status.nodes.online' },
            // What runs (the most common installed version), not the spec's "latest".
            { name: 'Version', type: 'string', jsonPath: '.status.agentVersions[0].version' },
            { name: 'Resolved', type: 'string', jsonPath: '.status.agent.resolvedVersion' },
            { name: 'Rollout', type: 'string', jsonPath: '.status.rollout.state' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}
