// The SsmApi with the AWS SDK loaded on the first call, not at start: a fleet that never calls Systems Manager
// (EC2-only, no activation) never pays its memory (≈ 35 MiB of RSS for @aws-sdk/client-ssm and its stack).
import type { SsmApi } from './ssm-api.ts';
import type { SsmClientOptions } from './ssm-client.ts';

type AsyncMethods = Exclude<keyof SsmApi, 'destroy' | 'client'>;

export function lazySsmApi(opts: SsmClientOptions): SsmApi {
  let api: Promise<SsmApi> | undefined;
  let destroyed = false;
  const load = (): Promise<SsmApi> => {
    if (destroyed) return Promise.reject(new Error('the SSM client was destroyed'));
    api ??= import('./ssm-api.ts').then((m) => m.createSsmApi(opts));
    return api;
  };
  const call =
    <K extends AsyncMethods>(name: K) =>
    async (...args: Parameters<SsmApi[K]>): Promise<Awaited<ReturnType<SsmApi[K]>>> => {
      const loaded = await load();
      const method = loaded[name] as (...a: Parameters<SsmApi[K]>) => ReturnType<SsmApi[K]>;
      return method.apply(loaded, args) as Awaited<ReturnType<SsmApi[K]>>;
    };
  // Every method by name: a method added to SsmApi that is missing here fails the type check.
  const methods: { [K in AsyncMethods]: SsmApi[K] } = {
    createActivation: call('createActivation'),
    describeActivation: call('describeActivation'),
    deleteActivation: call('deleteActivation'),
    listActivationsNamed: call('listActivationsNamed'),
    listManagedInstances: call('listManagedInstances'),
    describeInstances: call('describeInstances'),
    deregisterInstance: call('deregisterInstance'),
    tagInstance: call('tagInstance'),
    listInstanceTags: call('listInstanceTags'),
  };
  return {
    ...methods,
    // The SDK client itself is for tests of createSsmApi; the operator only calls the methods.
    get client(): never {
      throw new Error('lazySsmApi does not expose the SDK client: use createSsmApi');
    },
    destroy() {
      destroyed = true;
      void api?.then((a) => a.destroy()).catch(() => undefined);
    },
  };
}
