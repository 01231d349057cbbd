import { pino, type Logger } from 'pino';

/** Paths never logged in clear: activation codes, tokens, proxy and mirror credentials. */
export const REDACT_PATHS = [
  'activationCode',
  '*.activationCode',
  '*.*.activationCode',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'password',
  '*.password',
  '*.*.password',
  'credentials',
  '*.credentials',
  'httpsProxy',
  '*.httpsProxy',
  'httpProxy',
  '*.httpProxy',
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' }, base: { pid: process.pid } });
}
