// The engine's error classes, named for what the caller should do. Each carries
// the HTTP status Docker uses; only src/api/errors.ts turns them into responses.

export abstract class BerthError extends Error {
  abstract readonly code: string
  abstract readonly status: number
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

export class InvalidArgument extends BerthError {
  readonly code = 'invalid_argument'
  readonly status = 400
}

/** Credentials a registry refused (docker login's 401). */
export class Unauthorized extends BerthError {
  readonly code = 'unauthorized'
  readonly status = 401
}

export class Forbidden extends BerthError {
  readonly code = 'forbidden'
  readonly status = 403
}

export class NotFound extends BerthError {
  readonly code = 'not_found'
  readonly status = 404
}

export class Conflict extends BerthError {
  readonly code = 'conflict'
  readonly status = 409
}

export class NotModified extends BerthError {
  readonly code = 'not_modified'
  readonly status = 304
}

/** What the thing asked cannot do (a log driver that does not read back). */
export class NotImplemented extends BerthError {
  readonly code = 'not_implemented'
  readonly status = 501
}

export class Unavailable extends BerthError {
  readonly code = 'unavailable'
  readonly status = 503
}

export class Internal extends BerthError {
  readonly code = 'internal'
  readonly status = 500
}

export function isBerthError(err: unknown): err is BerthError {
  return err instanceof BerthError
}

/** Node's errno code of a system error, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code
    return typeof code === 'string' ? code : undefined
  }
  return undefined
}
