// Facts about AWS partitions that the operator and the node agent both need.

export function dnsSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** The endpoints amazon-ssm-agent talks to: each can be overridden (spec.endpoints), is written to its configuration
 * file and is probed by the node agent. */
export const ENDPOINT_NAMES = ['ssm', 'ec2messages', 'ssmmessages', 's3'] as const;
export type EndpointName = (typeof ENDPOINT_NAMES)[number];

export function defaultEndpoint(service: EndpointName, region: string): string {
  return `${service}.${region}.${dnsSuffix(region)}`;
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** Parses a Go-style duration ("60s", "1m30s", "500ms") into seconds; NaN when malformed. */
export function parseDurationSeconds(text: string): number {
  const parts = [...text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return Number.NaN;
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_SECONDS[p[2] ?? ''] ?? Number.NaN), 0);
}
