// Owns every error class and code phigate raises. The CLI turns a PhigateError into one line and an exit status.

export const ERROR_CODES = {
  CONFIG_NOT_FOUND: 'config file not found',
  CONFIG_INVALID: 'config file does not match the schema',
  CONFIG_SYNTAX: 'config file is not valid YAML',
  USERS_INVALID: 'users file is invalid',
  USER_EXISTS: 'user already exists',
  USER_NOT_FOUND: 'user not found',
  PASSWORD_INVALID: 'password does not meet the rules',
  TLS_FILES: 'TLS certificate or key cannot be read',
  DKIM_KEY: 'DKIM key cannot be created or read',
  QUEUE_NOT_FOUND: 'queue entry not found',
  STORE_OPEN: 'data store cannot be opened',
  DATA_DIR_IN_USE: 'another gateway runs on this data directory',
  JOURNAL: 'the acceptance journal cannot be opened or written',
  AUDIT_CHAIN_BROKEN: 'audit chain does not verify',
  AUDIT_QUERY: 'audit query is invalid',
  USAGE: 'command line usage error',
  LISTEN_FAILED: 'listener cannot bind its address',
  SCAN_INPUT: 'scan input is not a readable message',
  POLICY_INVALID: 'policy files do not validate',
  QUARANTINE_NOT_FOUND: 'no held message with this queue id',
  KEY_INVALID: 'OpenPGP key cannot be used',
  KEY_NOT_FOUND: 'no such OpenPGP key',
  CERT_INVALID: 'certificate cannot be used',
  CERT_NOT_FOUND: 'no such certificate',
  MASTER_KEY: 'master key missing, unreadable or not in the keyring',
  SEALED_TAMPERED: 'a sealed record does not authenticate',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PhigateError extends Error {
  readonly code: ErrorCode;
  /** Exit status the CLI uses for this error. */
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PhigateError';
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A problem located in a file: `file:line:col message`. */
export interface FileProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatProblem(p: FileProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.message}`;
}

export class FileProblemsError extends PhigateError {
  readonly problems: FileProblem[];
  constructor(code: ErrorCode, problems: FileProblem[]) {
    super(code, problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** Where an acceptance journal record is: its segment and its offset there. */
export interface JournalPlace { segment: number; offset: number }

/** A journal write that failed; `ticket` is where the record was (it may be whole on disk), if it got that far. */
export class JournalWriteError extends PhigateError {
  constructor(message: string, readonly ticket: JournalPlace | null, cause?: unknown) {
    super('JOURNAL', message, cause === undefined ? undefined : { cause });
  }
}

export function isPhigateError(e: unknown): e is PhigateError {
  return e instanceof PhigateError;
}
