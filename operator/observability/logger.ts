import { pino, type Logger } from 'pino';

/** Paths never logged in clear: activation codes, tokens, proxy credentials. */
export const REDACT_PATHS = [
  'activationCode',
  '*.activationCode',
  '*.*.activationCode',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'httpsProxy',
  '*.httpsProxy',
  'httpProxy',
  '*.httpProxy',
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' }, base: { pid: process.pid } });
}
