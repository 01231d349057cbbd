// The command line of `ssm-agent-operator` (also `kubectl ssm` as a kubectl plugin). Pure.
import { OPERATOR_DIAGNOSE_PORT } from '../manifests/names.ts';

export interface DiagnoseArgs {
  command: 'diagnose';
  node?: string;
  all: boolean;
  namespace: string;
  probe: boolean;
  waitSeconds: number;
  json: boolean;
  kubeconfig?: string;
  context?: string;
  lease: string;
  port: number;
}

export const USAGE = `usage: ssm-agent-operator diagnose NODE [flags]      (as a kubectl plugin: kubectl ssm diagnose NODE)
       ssm-agent-operator diagnose --all [flags]

Asks NODE's node agent for a probe now, through the operator's leader, and prints the host, each step with its
fix, the registration and each endpoint's probe by phase. --all prints one line per node, failing ones first.

flags:
  -n, --namespace NS   the operator's namespace (default ssm-system, or $SSM_AGENT_OPERATOR_NAMESPACE)
      --no-probe       do not ask for a probe; print what the node agent last reported
      --wait SECONDS   how long to wait for the probe's answer (1-60, default 30)
  -o, --output json    print the diagnosis as JSON
      --kubeconfig F   the kubeconfig (default $KUBECONFIG or ~/.kube/config)
      --context NAME   a context of the kubeconfig
      --lease NAME     the operator's leader Lease (default ssm-agent-operator-leader)
      --port N         the operator's diagnosis port (default ${OPERATOR_DIAGNOSE_PORT})

needs: get on leases and pods/proxy in the operator's namespace, and the verb "diagnose" on ssmagentconfigs
(the ClusterRole and Role ssm-agent-operator-diagnose in examples/rbac/diagnose.yaml); a kubeconfig user with a bearer token (EKS, OIDC, a
ServiceAccount token), because the operator checks the caller's own token.
`;

export type ParsedArgs = { ok: true; args: DiagnoseArgs } | { ok: false; error: string } | { ok: 'help' };

export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): ParsedArgs {
  const rest = [...argv];
  const command = rest.shift();
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') return { ok: 'help' };
  if (command !== 'diagnose') return { ok: false, error: `unknown command ${JSON.stringify(command)} (the command is diagnose)` };
  const args: DiagnoseArgs = {
    command: 'diagnose',
    all: false,
    namespace: env.SSM_AGENT_OPERATOR_NAMESPACE || 'ssm-system',
    probe: true,
    waitSeconds: 30,
    json: false,
    lease: 'ssm-agent-operator-leader',
    port: OPERATOR_DIAGNOSE_PORT,
  };
  const value = (flag: string): string | { error: string } => {
    const v = rest.shift();
    return v === undefined || v.startsWith('-') ? { error: `${flag} needs a value` } : v;
  };
  while (rest.length > 0) {
    const raw = rest.shift() as string;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const arg = eq > 0 ? raw.slice(0, eq) : raw;
    if (eq > 0) rest.unshift(raw.slice(eq + 1));
    const take = () => value(arg);
    switch (arg) {
      case '-h':
      case '--help':
        return { ok: 'help' };
      case '--all':
      case '-A':
        args.all = true;
        break;
      case '--no-probe':
        args.probe = false;
        break;
      case '--json':
        args.json = true;
        break;
      case '-o':
      case '--output': {
        const v = take();
        if (typeof v !== 'string') return { ok: false, error: v.error };
        if (v !== 'json' && v !== 'text') return { ok: false, error: `--output must be json or text, not ${JSON.stringify(v)}` };
        args.json = v === 'json';
        break;
      }
      case '-n':
      case '--namespace':
      case '--kubeconfig':
      case '--context':
      case '--lease':
      case '--wait':
      case '--port': {
        const v = take();
        if (typeof v !== 'string') return { ok: false, error: v.error };
        if (arg === '-n' || arg === '--namespace') args.namespace = v;
        else if (arg === '--kubeconfig') args.kubeconfig = v;
        else if (arg === '--context') args.context = v;
        else if (arg === '--lease') args.lease = v;
        else {
          const n = Number(v);
          const [min, max] = arg === '--wait' ? [1, 60] : [1, 65535];
          if (!Number.isInteger(n) || n < min || n > max) return { ok: false, error: `${arg} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}` };
          if (arg === '--wait') args.waitSeconds = n;
          else args.port = n;
        }
        break;
      }
      default:
        if (arg.startsWith('-')) return { ok: false, error: `unknown flag ${arg}` };
        if (args.node !== undefined) return { ok: false, error: `one node at a time (got ${args.node} and ${arg}); --all for every node` };
        if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(arg) || arg.length > 253) return { ok: false, error: `${JSON.stringify(arg)} is not a node name` };
        args.node = arg;
    }
  }
  if (args.all && args.node) return { ok: false, error: 'give a NODE or --all, not both' };
  if (!args.all && !args.node) return { ok: false, error: 'name a NODE, or --all' };
  return { ok: true, args };
}
