// How the operator's container runs Node: the chart's Deployment sets NODE_OPTIONS to this (the chart test checks
// that the two agree), and the test harness runs the operator process with it, as a pod does.

/**
 * V8's young generation capped at 1 MiB semi-spaces, as the node agent's (operator/manifests/node-agent-runtime.ts).
 * By default the start-up burst (module loading, the informers' first lists) grows them to 8 MiB each, committed
 * for good: the operator before any work held 16 MiB of new space with 3 MiB in use, and the cap takes about 6 MiB
 * off its RSS. Under load it costs nothing measurable: BENCH_ONLY=storm at 1,000 agents, two runs each without /
 * with, ramp-up CPU 9.5, 7.7 / 12.6, 7.6 s, storm CPU 5.7, 4.9 / 4.3, 5.1 s, RSS with the agents 344, 246 /
 * 249, 252 MiB (the spread is the shared machine's).
 */
export const OPERATOR_NODE_OPTIONS = '--max-semi-space-size=1';
