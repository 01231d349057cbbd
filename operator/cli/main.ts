#!/usr/bin/env node
// `ssm-agent-operator diagnose NODE | --all` (also the kubectl plugin `kubectl ssm`): reaches the operator's leader
// with the user's kubeconfig only — the leader Lease names its pod, and the API server's pod proxy carries the
// request to its diagnosis endpoint, with the caller's own token for the operator to review (operator/diagnose/).
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, KubeClient } from '../kube/client.ts';
import * as kube from '../kube/objects.ts';
import { RESOURCES } from '../kube/resources.ts';
import { CALLER_TOKEN_HEADER, DIAGNOSE_PATH, type NodeDiagnosis, type NodeSummary } from '../diagnose/report.ts';
import { parseArgs, USAGE, type DiagnoseArgs } from './args.ts';
import { formatDiagnosis, formatSummaries } from './format.ts';

function fail(message: string, code = 1): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}

async function run(args: DiagnoseArgs): Promise<void> {
  const kc = new KubeConfig();
  if (args.kubeconfig) kc.loadFromFile(args.kubeconfig);
  else kc.loadFromDefault();
  if (args.context) kc.setCurrentContext(args.context);
  const client = new KubeClient(kc);
  const token = await client.bearerToken();
  if (!token) {
    fail(
      `the kubeconfig's user (${kc.getCurrentUser()?.name ?? 'none'}) has no bearer token (a client certificate?): the operator checks the caller's own token. Use a user with a token (EKS "aws eks get-token", OIDC, a ServiceAccount token from "kubectl create token").`,
    );
  }
  let lease: { spec?: { holderIdentity?: string } } | undefined;
  try {
    lease = await kube.getOptional(client, RESOURCES.lease, { namespace: args.namespace, name: args.lease });
  } catch (err) {
    fail(`cannot read the leader Lease ${args.namespace}/${args.lease}: ${(err as Error).message}`);
  }
  if (!lease) fail(`no leader Lease ${args.lease} in namespace ${args.namespace}: is the operator installed there? (-n NAMESPACE)`);
  const holder = lease.spec?.holderIdentity ?? '';
  if (!holder) fail('the operator has no leader right now; try again in a few seconds');
  const target = args.all ? DIAGNOSE_PATH : `${DIAGNOSE_PATH}/${encodeURIComponent(args.node ?? '')}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(args.namespace)}/pods/https:${encodeURIComponent(holder)}:${args.port}/proxy${target}`;
  let body: unknown;
  try {
    body = await client.request('GET', path, {
      headers: { [CALLER_TOKEN_HEADER]: `Bearer ${token}` },
      ...(args.all ? {} : { query: { probe: args.probe, waitSeconds: args.waitSeconds } }),
      timeoutMs: (args.waitSeconds + 20) * 1000,
    });
  } catch (err) {
    const text = (err as Error).message.replace(/^GET \S+: /, '');
    if (err instanceof KubeApiError && (err.statusCode === 502 || err.statusCode === 503)) {
      fail(`the leader ${holder} did not answer (${text}); it may be changing: try again`);
    }
    fail(text);
  }
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  if (args.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  else if (args.all) process.stdout.write(formatSummaries((body as { nodes: NodeSummary[] }).nodes, { color }));
  else process.stdout.write(formatDiagnosis(body as NodeDiagnosis, { color, now: new Date() }));
  client.close();
}

const parsed = parseArgs(process.argv.slice(2), process.env);
if (parsed.ok === 'help') process.stdout.write(USAGE);
else if (!parsed.ok) {
  process.stderr.write(`error: ${parsed.error}\n\n${USAGE}`);
  process.exit(2);
} else await run(parsed.args);
