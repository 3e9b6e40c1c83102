// The only place an error becomes an HTTP status: BerthErrors carry theirs, src/lib's
// ParseError (input not in Docker's grammar) is a 400 like InvalidArgument, and anything else
// is a 500 and is logged, since it is a bug or an unexpected failure.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isBerthError } from '../engine/errors.ts'
import { ParseError } from '../lib/errors.ts'
import type { Logger } from '../engine/logger.ts'
import { versionLessThan } from './version.ts'

export function statusOf(err: unknown): number {
  if (isBerthError(err)) return err.status
  return err instanceof ParseError ? 400 : 500
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

export interface ErrorTarget {
  req: IncomingMessage
  res: ServerResponse
  logger: Logger
  /** The version named in the path, if any. */
  pathVersion?: string
  /** The route pattern, for the log line. */
  route?: string
}

/** Logs what deserves logging: every 5xx, as dockerd does. */
export function logError(t: ErrorTarget, err: unknown, status = statusOf(err)): void {
  if (status < 500) return
  t.logger.error(
    `Handler for ${t.req.method} ${t.route ?? t.req.url} returned error: ${messageOf(err)}`,
    {
      status,
      stack: !isBerthError(err) && err instanceof Error ? err.stack : undefined,
    },
  )
}

/**
 * Writes an error as Docker does: `{"message": "..."}` with the error's status.
 * When the response has already begun there is no status left to send, so the
 * connection is cut, which clients see as a truncated response.
 */
export function writeError(t: ErrorTarget, err: unknown): void {
  const status = statusOf(err)
  logError(t, err, status)
  const { res } = t
  if (res.headersSent) {
    res.destroy()
    return
  }
  const message = messageOf(err)
  // Clients older than API 1.24 expect plain text, and moby is kind enough to send it.
  if (t.pathVersion && versionLessThan(t.pathVersion, '1.24')) {
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
    })
    res.end(message + '\n')
    return
  }
  const body = JSON.stringify({ message }) + '\n'
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  })
  res.end(body)
}

/** Docker's error line in a JSON progress stream that has already started. */
export function errorLine(err: unknown): { errorDetail: { message: string }; error: string } {
  const message = messageOf(err)
  return { errorDetail: { message }, error: message }
}
