// A fleet of N hybrid managed instances in the SSM emulator, registered with one config's activation and tagged
// for its cluster, config and node, and the instance sweep over it (operator/instances/step.ts) as the SSM sync
// runs it, counting the SSM calls each sweep makes (the emulator's call log). Used by the call-budget test and
// `npm run bench` (BENCH_ONLY=ssm).
import { createSsmApi, type SsmApi } from '../../operator/aws/index.ts';
import { TAG_CLUSTER, TAG_CONFIG, TAG_NODE } from '../../operator/activations/tags.ts';
import { reconcileInstances, type InstancesOutcome } from '../../operator/instances/step.ts';
import { InstanceTagCache } from '../../operator/instances/tag-cache.ts';
import type { SsmEmulator } from '../servers/ssm-emulator/index.ts';

export const SWEEP_CLUSTER = 'bench-cluster';
export const SWEEP_CONFIG = 'bench-config';
export const SWEEP_ACTIVATION = '11111111-2222-4333-8444-555555555555';

export interface SweepFleet {
  ssm: SsmApi;
  nodes: { node: string; instanceId: string }[];
  cache: InstanceTagCache;
  /** one sweep as the SSM sync runs it; `calls` by operation, and how many answers were ThrottlingException */
  sweep(opts?: { existingNodes?: ReadonlySet<string> }): Promise<{ outcome: InstancesOutcome; calls: Record<string, number>; total: number; throttled: number }>;
}

/** The budget the issue sets for one sweep of n instances. */
export const sweepBudget = (n: number): number => n / 50 + 10;

export function seedSweepFleet(emulator: SsmEmulator, n: number, opts: { retryMode?: 'standard' | 'adaptive' } = {}): SweepFleet {
  const nodes: { node: string; instanceId: string }[] = [];
  for (let i = 0; i < n; i++) {
    const node = `node-${i}`;
    const tags = [
      { Key: TAG_CLUSTER, Value: SWEEP_CLUSTER },
      { Key: TAG_CONFIG, Value: SWEEP_CONFIG },
      { Key: TAG_NODE, Value: node },
    ];
    nodes.push({ node, instanceId: emulator.state.addInstance({ activationId: SWEEP_ACTIVATION, tags }).instanceId });
  }
  const ssm = createSsmApi({ region: emulator.region, endpoint: emulator.url, credentials: { kind: 'static', ...emulator.credentials }, retryMode: opts.retryMode ?? 'adaptive' });
  const cache = new InstanceTagCache();
  return {
    ssm,
    nodes,
    cache,
    async sweep(o = {}) {
      const before = emulator.state.calls().length;
      const outcome = await reconcileInstances({
        ssm,
        cluster: SWEEP_CLUSTER,
        config: SWEEP_CONFIG,
        nodes,
        existingNodes: o.existingNodes ?? new Set(nodes.map((x) => x.node)),
        ownActivations: new Set([SWEEP_ACTIVATION]),
        deregisterOnNodeDelete: true,
        uninstall: false,
        tagCache: cache,
      });
      const made = emulator.state.calls().slice(before);
      const calls: Record<string, number> = {};
      for (const c of made) calls[c.operation] = (calls[c.operation] ?? 0) + 1;
      return { outcome, calls, total: made.length, throttled: made.filter((c) => c.code === 'ThrottlingException').length };
    },
  };
}
