// Reading the agent's registration and making sense of its register errors. Pure.

export interface Registration {
  instanceId: string;
  region: string;
}

/** The agent's registration file: {"ManagedInstanceID":"mi-…","Region":"…"}. */
export function parseRegistration(text: string | undefined): Registration | undefined {
  if (!text) return undefined;
  try {
    const doc = JSON.parse(text) as { ManagedInstanceID?: unknown; Region?: unknown };
    if (typeof doc.ManagedInstanceID !== 'string' || !doc.ManagedInstanceID) return undefined;
    return { instanceId: doc.ManagedInstanceID, region: typeof doc.Region === 'string' ? doc.Region : '' };
  } catch {
    return undefined;
  }
}

const REASONS: [RegExp, string, string][] = [
  [/ActivationExpired|activation (has )?expired/i, 'ActivationExpired', 'the activation has expired: create a new one (or use a managed activation, which the operator rotates)'],
  [/RegistrationLimitExceeded|registration limit/i, 'RegistrationLimitExceeded', 'the activation has no registrations left: raise its limit or create a new one'],
  [/InvalidActivation(Id)?|activation (code|id) is (not valid|invalid)|invalid activation/i, 'InvalidActivation', 'the activation id or code is wrong: check the activation Secret'],
  [/AccessDenied|not authorized/i, 'AccessDenied', 'AWS refused the registration: check the activation’s IAM role'],
  [/timeout|dial tcp|no such host|connection refused|proxyconnect/i, 'RegistrationUnreachable', 'the agent could not reach Systems Manager: check the connectivity probes and the proxy'],
];

/**
 * The agent's own account of the failure: its "Registration failed due to …" line and the continuation lines after
 * it (Go's awserr puts "caused by: …" and "\tstatus code: …" on lines of their own). The real agent prints
 * config-override lines (stdout and stderr) around it, so the last lines are noise; they are used only when no such
 * line exists.
 */
export function failureDetail(text: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.includes('Registration failed due to'));
  const picked =
    at < 0
      ? lines.map((l) => l.trim()).filter(Boolean).slice(-3)
      : [lines[at]?.replace(/^.*?(Registration failed due to)/, '$1') ?? '', ...lines.slice(at + 1).filter((l, i, all) => /^(\s|caused by:)/.test(l) && all.slice(0, i).every((p) => /^(\s|caused by:)/.test(p)))];
  return picked.map((l) => l.trim()).filter(Boolean).join(' | ').slice(0, 500);
}

/** Maps the agent's output of a failed `-register` to a reason and advice; secrets are masked first. */
export function classifyRegisterFailure(output: string, secrets: string[]): { reason: string; message: string } {
  let text = output;
  for (const s of secrets) if (s) text = text.split(s).join('[REDACTED]');
  const detail = failureDetail(text);
  for (const [pattern, reason, advice] of REASONS) if (pattern.test(text)) return { reason, message: `${advice} (agent said: ${detail})` };
  return { reason: 'RegistrationFailed', message: `amazon-ssm-agent -register failed: ${detail}` };
}
