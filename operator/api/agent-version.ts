// amazon-ssm-agent version numbers: always four dot-separated decimal parts ("3.3.1142.0"), as in the bucket's
// versioned paths and its `latest/VERSION` file (the agent's own check is `^\d+.\d+.\d+.\d+$`, in
// aws/amazon-ssm-agent agent/setupcli/managers/downloadmanager/downloadmanager.go, readVersionFromURL).

export type AgentVersion = readonly [number, number, number, number];

const VERSION_RE = /^([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})$/;

/** The four parts of a version string (surrounding white space ignored), or undefined when it is not four decimal parts. */
export function parseVersion(text: string): AgentVersion | undefined {
  const m = VERSION_RE.exec(text.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
}

export function isVersion(text: string): boolean {
  return parseVersion(text) !== undefined;
}

/** Negative when a < b, 0 when equal, positive when a > b (part by part, numerically: 3.3.10.0 > 3.3.9.0). */
export function compareVersions(a: AgentVersion | string, b: AgentVersion | string): number {
  const pa = typeof a === 'string' ? parseVersion(a) : a;
  const pb = typeof b === 'string' ? parseVersion(b) : b;
  if (!pa || !pb) throw new Error(`not a 4-part agent version: ${JSON.stringify(!pa ? a : b)}`);
  for (let i = 0; i < 4; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function formatVersion(v: AgentVersion): string {
  return v.join('.');
}
