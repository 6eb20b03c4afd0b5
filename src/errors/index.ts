/**
 * One error type for the whole product. Each error has a stable `code` that scripts can rely on;
 * the API and the CLI map codes to HTTP status and exit codes here and nowhere else.
 */
export type ErrorKind =
  | 'bad-input' // the caller sent something malformed: 400, exit 2
  | 'unauthorized' // missing or wrong token or signature: 401, exit 2
  | 'not-found' // 404, exit 2
  | 'conflict' // the request clashes with current state: 409, exit 2
  | 'unprocessable' // well-formed but refused (e.g. hash mismatch): 422, exit 1
  | 'rate-limited' // too many requests from one address: 429, exit 1
  | 'unavailable' // a peer could not be reached: 503, exit 1
  | 'insufficient-storage' // a disk is full: 507, exit 1
  | 'internal'; // 500, exit 1

const KIND_BY_CODE = {
  OUTPOST_BAD_INPUT: 'bad-input',
  OUTPOST_BAD_SITE_CODE: 'bad-input',
  OUTPOST_BAD_PACKAGE_ID: 'bad-input',
  OUTPOST_BAD_PATH: 'bad-input',
  OUTPOST_BAD_DURATION: 'bad-input',
  OUTPOST_BAD_DP: 'bad-input',
  OUTPOST_SOURCE_UNREADABLE: 'bad-input',
  OUTPOST_NOT_OWNED: 'bad-input',
  OUTPOST_UNAUTHORIZED: 'unauthorized',
  OUTPOST_BAD_SIGNATURE: 'unauthorized',
  OUTPOST_WRONG_GENERATION: 'unauthorized',
  OUTPOST_JOIN_TOKEN_INVALID: 'unauthorized',
  OUTPOST_CLIENT_NOT_REGISTERED: 'unauthorized',
  OUTPOST_SITE_NOT_FOUND: 'not-found',
  OUTPOST_PACKAGE_NOT_FOUND: 'not-found',
  OUTPOST_JOB_NOT_FOUND: 'not-found',
  OUTPOST_FILE_NOT_FOUND: 'not-found',
  OUTPOST_NOT_FOUND: 'not-found',
  OUTPOST_DP_NOT_FOUND: 'not-found',
  OUTPOST_BOUNDARY_NOT_FOUND: 'not-found',
  OUTPOST_DEPLOYMENT_NOT_FOUND: 'not-found',
  OUTPOST_CLIENT_NOT_FOUND: 'not-found',
  OUTPOST_SITE_EXISTS: 'conflict',
  OUTPOST_SITE_ACTIVE: 'conflict',
  OUTPOST_SITE_HAS_CHILDREN: 'conflict',
  OUTPOST_DATA_DIR_EXISTS: 'conflict',
  OUTPOST_ADDRESS_IN_USE: 'conflict',
  OUTPOST_NOT_CONFIGURED: 'conflict',
  OUTPOST_WRONG_PARENT: 'conflict',
  OUTPOST_NOT_ORIGIN: 'conflict',
  OUTPOST_IMPORT_RUNNING: 'conflict',
  OUTPOST_DP_EXISTS: 'conflict',
  OUTPOST_DP_HAS_ASSIGNMENTS: 'conflict',
  OUTPOST_REBUILD_RUNNING: 'conflict',
  OUTPOST_BOUNDARY_EXISTS: 'conflict',
  OUTPOST_CONTENT_MISSING: 'unprocessable',
  OUTPOST_HASH_MISMATCH: 'unprocessable',
  OUTPOST_TOO_LARGE: 'unprocessable',
  OUTPOST_RATE_LIMITED: 'rate-limited',
  OUTPOST_UNREACHABLE: 'unavailable',
  OUTPOST_PREFLIGHT_FAILED: 'unavailable',
  OUTPOST_DISK_FULL: 'insufficient-storage',
  OUTPOST_INTERNAL: 'internal',
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof KIND_BY_CODE;

export class OutpostError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'OutpostError';
    this.code = code;
    this.hint = options.hint;
  }

  get kind(): ErrorKind {
    return KIND_BY_CODE[this.code];
  }
}

const HTTP_STATUS: Record<ErrorKind, number> = {
  'bad-input': 400,
  unauthorized: 401,
  'not-found': 404,
  conflict: 409,
  unprocessable: 422,
  'rate-limited': 429,
  unavailable: 503,
  'insufficient-storage': 507,
  internal: 500,
};

const EXIT_CODE: Record<ErrorKind, number> = {
  'bad-input': 2,
  unauthorized: 2,
  'not-found': 2,
  conflict: 2,
  unprocessable: 1,
  'rate-limited': 1,
  unavailable: 1,
  'insufficient-storage': 1,
  internal: 1,
};

/** HTTP status for an error code. */
export function httpStatusFor(code: ErrorCode): number {
  return HTTP_STATUS[KIND_BY_CODE[code]];
}

/** CLI exit code for an error code. */
export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODE[KIND_BY_CODE[code]];
}

// Recognises a code received over the wire so a remote error keeps its identity.
function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && value in KIND_BY_CODE;
}

/** The JSON body every API error is sent as. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; hint?: string };
}

/** Turns any thrown value into the API's error body and status. */
export function toErrorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof OutpostError) {
    return {
      status: httpStatusFor(err.code),
      body: { error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } },
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { error: { code: 'OUTPOST_INTERNAL', message } } };
}

/**
 * Turns the body of a failed HTTP answer from another Outpost server back into the error it sent,
 * code and hint intact; anything else (a proxy's page, an empty body) becomes OUTPOST_UNREACHABLE
 * naming the URL, the status and the start of the body.
 */
export function errorFromResponse(status: number, text: string, url: string): OutpostError {
  try {
    const parsed = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown; hint?: unknown };
    } | null;
    const error = parsed?.error;
    if (error && isErrorCode(error.code) && typeof error.message === 'string') {
      return new OutpostError(error.code, error.message, {
        hint: typeof error.hint === 'string' ? error.hint : undefined,
      });
    }
  } catch {
    // not a JSON error body: fall through to the status line
  }
  const excerpt = text.trim().slice(0, 200);
  return new OutpostError(
    'OUTPOST_UNREACHABLE',
    `${url} answered HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`,
  );
}
