// ssm_operator_ssm_api_requests_total{operation,code} (contract name, DESIGN.md): one count per HTTP attempt, so
// a call throttled twice and then answered counts ThrottlingException twice and OK once. Recorded by a middleware
// on the SDK client's deserialize step, inside the retry loop, that sees each attempt's answer or error.
import { Counter, type Registry } from '../lib/prom.ts';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ssmErrorCode } from './ssm-errors.ts';

export const SSM_API_REQUESTS_METRIC = 'ssm_operator_ssm_api_requests_total';
const MIDDLEWARE_NAME = 'ssmOperatorApiRequestMetrics';

export type SsmApiRequestsCounter = Counter<'operation' | 'code'>;

/** Registers the counter on `registry` (once: a second call returns the same counter). */
export function registerSsmApiMetrics(registry: Registry): SsmApiRequestsCounter {
  const existing = registry.getSingleMetric(SSM_API_REQUESTS_METRIC);
  if (existing) return existing as SsmApiRequestsCounter;
  return new Counter({
    name: SSM_API_REQUESTS_METRIC,
    help: 'SSM API requests (every attempt, retries included) by operation and result code (OK or the AWS error code).',
    labelNames: ['operation', 'code'] as const,
    registers: [registry],
  });
}

/** "DescribeInstanceInformationCommand" → "DescribeInstanceInformation" */
export function operationName(commandName: string | undefined): string {
  return (commandName ?? 'Unknown').replace(/Command$/, '');
}

/** Counts every attempt `client` makes on `counter`. */
export function instrumentSsmClient(client: SSMClient, counter: SsmApiRequestsCounter): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = operationName(context.commandName);
      try {
        const result = await next(args);
        counter.inc({ operation, code: 'OK' });
        return result;
      } catch (err) {
        counter.inc({ operation, code: ssmErrorCode(err) });
        throw err;
      }
    },
    // deserialize runs once per attempt (inside finalizeRequest's retry); "high" wraps the deserializer itself.
    { step: 'deserialize', priority: 'high', name: MIDDLEWARE_NAME, override: true },
  );
}
