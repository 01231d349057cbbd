// prom-client's metric types, loaded from their own files rather than from the package's index. The index also
// loads its default metrics (whose CPU counter loads @opentelemetry/api for exemplars, which we never use), the
// Pushgateway (http, https) and the cluster aggregator: +17 MiB of RSS beside a bare Node's 41.7 MiB, in every
// node agent of every cluster (62.6 MiB with the index, 45.0 with these files alone). The classes are the index's
// own (the same CommonJS modules), so the types come from 'prom-client'. test/unit/node-agent-modules.test.ts
// keeps the index out of both processes.
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const load = createRequire(import.meta.url);

export const Registry = load('prom-client/lib/registry') as typeof Prom.Registry;
export const Counter = load('prom-client/lib/counter') as typeof Prom.Counter;
export const Gauge = load('prom-client/lib/gauge') as typeof Prom.Gauge;
export const Histogram = load('prom-client/lib/histogram') as typeof Prom.Histogram;

export type Registry = Prom.Registry;
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
