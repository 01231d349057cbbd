// The operator's SSM client layer (see ssm-api.ts, ssm-client.ts, ssm-metrics.ts).
export {
  createSsmApi,
  ssmApiFor,
  type ActivationInfo,
  type ActivationSpec,
  type CreatedActivation,
  type ManagedInstanceInfo,
  type PingStatus,
  type SsmApi,
} from './ssm-api.ts';
export { createSsmClient, ssmClientConfig, DEFAULT_MAX_ATTEMPTS, type SsmClientOptions, type SsmCredentials, type SsmRetryMode } from './ssm-client.ts';
export { isSsmError, ssmErrorCode, NETWORK_ERROR, TIMEOUT_ERROR } from './ssm-errors.ts';
export { instrumentSsmClient, registerSsmApiMetrics, SSM_API_REQUESTS_METRIC, type SsmApiRequestsCounter } from './ssm-metrics.ts';
