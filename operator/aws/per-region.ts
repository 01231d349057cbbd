// One SsmApi per region, made on first use: configs in one region share a client (and its retry token bucket).
import type { SsmApi } from './ssm-api.ts';
import { lazySsmApi } from './lazy-ssm-api.ts';
import type { SsmClientOptions } from './ssm-client.ts';

/** One SsmApi per region, made on first use with `base` (endpoint, credentials, metrics counter…). */
export function ssmApiPerRegion(base: Omit<SsmClientOptions, 'region'>): { ssmFor: (region: string) => SsmApi; destroy(): void } {
  const apis = new Map<string, SsmApi>();
  return {
    ssmFor(region) {
      let api = apis.get(region);
      if (!api) {
        api = lazySsmApi({ ...base, region });
        apis.set(region, api);
      }
      return api;
    },
    destroy() {
      for (const api of apis.values()) api.destroy();
      apis.clear();
    },
  };
}
