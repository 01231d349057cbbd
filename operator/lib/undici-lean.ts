// undici's Agent, EnvHttpProxyAgent and fetch, each required from its own module instead of the package's index.
// The index loads all of undici (mock agents, cache stores, interceptors, WebSocket, EventSource, cookies: 109
// modules, 1.2 MiB of source kept on the V8 heap); the operator uses these three, which need about 45 of them. Measured:
// 9.7 MiB less RSS for the package alone, and the operator before any work is the figure README's Benchmarks
// table tracks. The classes are the very objects the index exports (test/unit/operator-modules.test.ts checks it
// against the installed version, so a release that moves them fails there, not in a pod).
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

// What the index does first: the request/stream/pipeline/upgrade/connect methods (the kube client calls
// dispatcher.request) are mixed into Dispatcher's prototype there, not defined in the class.
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js') as object);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export const EnvHttpProxyAgent = require('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof Undici.EnvHttpProxyAgent;
/** The index's fetch without its wrapper (which only appends the caller's frames to an error's stack). */
export const fetch = (require('undici/lib/web/fetch/index.js') as { fetch: typeof Undici.fetch }).fetch;
