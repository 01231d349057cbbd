// The SSM API emulator as an in-process operator sees AWS: its endpoint, and credentials through the standard
// chain (the environment, as a pod with a Secret-provided key would have them).
import { startSsmEmulator, type SsmEmulator } from '../servers/ssm-emulator/index.ts';

export interface SsmForOperator {
  emulator: SsmEmulator;
  /** Settings for startInProcessOperator. */
  settings: { SSM_ENDPOINT: string };
  /** Stops the emulator and puts the environment back. */
  stop(): Promise<void>;
}

export async function startSsmForOperator(region: string): Promise<SsmForOperator> {
  const emulator = await startSsmEmulator({ region });
  const saved = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = emulator.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = emulator.credentials.secretAccessKey;
  return {
    emulator,
    settings: { SSM_ENDPOINT: emulator.url },
    async stop() {
      await emulator.stop();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}
