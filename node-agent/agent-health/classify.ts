// What the agent itself says about its health, from its log lines (the real agent's words, read in
// aws/amazon-ssm-agent: common/identity/identity/identity_selector.go, core/agent.go,
// core/app/credentialrefresher, agent/health/healthcheck.go, agent/session/controlchannel,
// agent/messageservice). The last line that says something about an aspect wins. Pure.

export type HealthReason = 'IdentityMissing' | 'CredentialsUnavailable' | 'PingFailed' | 'MessagingUnreachable';

export interface HealthProblem {
  reason: HealthReason;
  /** the AWS error code the agent reported (AccessDeniedException, ExpiredTokenException, RequestError, …) */
  code?: string;
  /** the agent's own words, first line and continuation lines */
  detail: string;
  /** what to do about it */
  fix: string;
}

export type Aspect = 'identity' | 'credentials' | 'ping' | 'messaging';

/** The state the log has shown so far, per aspect: undefined = nothing known, null = fine, or a problem. */
export type HealthState = Partial<Record<Aspect, HealthProblem | null>>;

const FIXES: Record<HealthReason, (code: string | undefined) => string> = {
  IdentityMissing: () =>
    'the agent has no identity (not registered, and not an EC2 instance with a role): see the register step; on EC2, attach an instance profile',
  CredentialsUnavailable: (code) =>
    code === 'AccessDeniedException'
      ? "Systems Manager refused the role credentials: check the activation's IAM role (trust policy for ssm.amazonaws.com, AmazonSSMManagedInstanceCore attached)"
      : code === 'MachineFingerprintDoesNotMatch'
        ? 'the host no longer matches the machine it registered as: deregister the managed instance and let the node agent register again'
        : code === 'RequestError'
          ? 'the agent could not reach the SSM endpoint for its credentials: check the connectivity probes and the proxy'
          : code === 'ThrottlingException'
            ? 'Systems Manager throttles the credential requests: it retries; if this lasts, look for other callers of the account'
            : 'the agent cannot get its role credentials: check the IAM role and the SSM endpoint',
  PingFailed: (code) =>
    code === 'RequestError'
      ? 'the agent cannot reach the SSM endpoint for its health ping: check the connectivity probes and the proxy'
      : 'the health ping (UpdateInstanceInformation) is refused: check the role credentials and the IAM role permissions',
  MessagingUnreachable: () => 'the agent cannot open its message channels (ssmmessages, ec2messages): check those endpoints in the connectivity probes and the proxy',
};

const PRIORITY: Aspect[] = ['identity', 'credentials', 'ping', 'messaging'];

/** "2026-12-01 20:44:46.3423 ERROR [X] msg" → {level, message}; continuation lines have no timestamp. */
export function parseLogLine(line: string): { level: string; message: string } | undefined {
  const m = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? ([A-Z]+) (.*)$/.exec(line);
  return m ? { level: m[1] as string, message: m[2] as string } : undefined;
}

/** The AWS error code at the start of an awserr text ("AccessDeniedException: …" → AccessDeniedException). */
function awsCode(text: string): string | undefined {
  return /^([A-Za-z][A-Za-z0-9.]*(?:Exception|Error|Fault|DoesNotMatch|Denied|Expired)?):\s/.exec(text.trim())?.[1];
}

function problem(reason: HealthReason, detail: string, code?: string): HealthProblem {
  return { reason, detail: detail.slice(0, 400), fix: FIXES[reason](code), ...(code ? { code } : {}) };
}

interface Rule {
  aspect: Aspect;
  pattern: RegExp;
  /** undefined: this line says the aspect is fine */
  reason?: HealthReason;
  /** group 1 of the pattern is the AWS error text */
  coded?: boolean;
}

const RULES: Rule[] = [
  { aspect: 'identity', pattern: /failed to get identity|Agent failed to assume any identity|failed to find agent identity/, reason: 'IdentityMissing' },
  { aspect: 'identity', pattern: /Agent will take identity from /, reason: undefined },
  { aspect: 'credentials', pattern: /\[CredentialRefresher\] Retrieve credentials produced error: (.*)$/, reason: 'CredentialsUnavailable', coded: true },
  { aspect: 'credentials', pattern: /\[CredentialRefresher\] Credentials ready|Identity does not require credential refresher/, reason: undefined },
  { aspect: 'ping', pattern: /\[HealthCheck\] error when calling AWS APIs\. error details - (.*)$/, reason: 'PingFailed', coded: true },
  { aspect: 'ping', pattern: /HealthCheck reporting agent health/, reason: undefined },
  {
    aspect: 'messaging',
    pattern: /Error setting up control channel|Failed to get controlchannel token|failed to (re)?connect (to the )?control ?channel|GetMessages Error|MDS Polling job started with errors/,
    reason: 'MessagingUnreachable',
  },
  { aspect: 'messaging', pattern: /[Cc]ontrol ?channel (is )?(opened|connected)|Successfully (opened|connected) .*(websocket|control channel)/, reason: undefined },
];

/** The agent logs this first at every start (core/agent.go initializeBasicModules): what came before is history. */
const START_MARKER = /^Proxy environment variables:$/;

/** Folds new log lines into the state. An identity problem also clears the rest (nothing else can run without it). */
export function foldLogLines(state: HealthState, lines: readonly string[]): HealthState {
  let next: HealthState = { ...state };
  for (let i = 0; i < lines.length; i++) {
    const parsed = parseLogLine(lines[i] ?? '');
    if (!parsed) continue;
    if (START_MARKER.test(parsed.message)) {
      next = {};
      continue;
    }
    for (const rule of RULES) {
      const m = rule.pattern.exec(parsed.message);
      if (!m) continue;
      if (rule.reason === undefined) {
        next[rule.aspect] = null;
      } else {
        // continuation lines (awserr: "\tstatus code: …", "caused by: …") belong to this one
        const more: string[] = [];
        for (let j = i + 1; j < lines.length && parseLogLine(lines[j] ?? '') === undefined && more.length < 4; j++) more.push((lines[j] ?? '').trim());
        const text = rule.coded ? (m[1] ?? '') : parsed.message;
        const detail = [text.trim(), ...more.filter(Boolean)].join(' | ');
        next[rule.aspect] = problem(rule.reason, detail, rule.coded ? awsCode(text) : undefined);
        if (rule.aspect === 'identity') for (const a of PRIORITY.slice(1)) delete next[a];
      }
      break;
    }
  }
  return next;
}

/** The problem to report: identity first (nothing works without it), then credentials, ping, messaging. */
export function currentProblem(state: HealthState): HealthProblem | undefined {
  for (const aspect of PRIORITY) {
    const p = state[aspect];
    if (p) return p;
  }
  return undefined;
}
