// Owns the operational logger: pino JSON to stdout. Logs carry ids, codes and counts; never subjects, bodies,
// attachment names, AUTH payloads or PHI.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.PHIGATE_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { app: 'phigate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', 'pass', 'auth.password', 'body', 'subject', 'headers'], remove: true },
  });
}

export const silentLogger: Logger = pino({ level: 'silent' });
