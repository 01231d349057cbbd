// Standalone SSM API emulator, for processes that cannot share the test's memory (the stand-in agent's
// `-register`): `node test/servers/ssm-emulator/main.ts --port 4566 [--host 127.0.0.1] [--region us-east-1]`.
// Prints one JSON line, {"url","region","accessKeyId","secretAccessKey","control"}, once it listens; stops on
// SIGTERM/SIGINT. Tests steer it through the control API (control.ts).
import { parseArgs } from 'node:util';
import { CONTROL_PREFIX } from './control.ts';
import { startSsmEmulator } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    region: { type: 'string', default: 'us-east-1' },
    'ping-timeout-seconds': { type: 'string' },
  },
  strict: true,
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port ${values.port}: must be a port number (0-65535)`);
  process.exit(2);
}
const pingTimeout = values['ping-timeout-seconds'] === undefined ? undefined : Number(values['ping-timeout-seconds']) * 1000;

const emulator = await startSsmEmulator({
  port,
  host: values.host,
  region: values.region,
  ...(pingTimeout !== undefined && Number.isFinite(pingTimeout) ? { pingTimeoutMs: pingTimeout } : {}),
});
process.stdout.write(
  `${JSON.stringify({
    url: emulator.url,
    region: emulator.region,
    accessKeyId: emulator.credentials.accessKeyId,
    secretAccessKey: emulator.credentials.secretAccessKey,
    control: `${emulator.url}${CONTROL_PREFIX}`,
  })}\n`,
);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void emulator.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
