// What a registry or the network answered, in Docker's words: the distribution client's error
// codes ("manifest unknown: manifest unknown"), and Go's url.Error for failed requests
// (`Get "URL": dial tcp ...: connect: connection refused`).
import {
  type BerthError,
  errnoCode,
  Forbidden,
  Internal,
  isBerthError,
  NotFound,
  Unauthorized,
  Unavailable,
} from '../errors.ts'

/**
 * The cause of the Unauthorized thrown when a registry asks for Basic credentials and none were
 * given. Push reports it bare, as Docker does ("no basic auth credentials"); pull with the
 * request it stopped.
 */
export class NoBasicAuthCredentials extends Error {
  constructor() {
    super('no basic auth credentials')
    this.name = 'NoBasicAuthCredentials'
  }
}

/** One entry of a registry's {"errors": [...]} body. */
export interface RegistryErrorEntry {
  code: string
  message: string
  detail?: unknown
}

/**
 * The registry's answer behind a failed call, kept as the `cause` of the BerthError thrown, so
 * that pull and push can choose Docker's message by code without reading text.
 */
export class RegistryResponse extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly errors: RegistryErrorEntry[],
    message: string,
  ) {
    super(message)
    this.name = 'RegistryResponse'
  }

  /** Whether any entry carries one of the codes (MANIFEST_UNKNOWN, DENIED, ...). */
  has(...codes: string[]): boolean {
    return this.errors.some((e) => codes.includes(e.code))
  }
}

/** The codes distribution's errcode and v2 packages register; others read as "unknown". */
const KNOWN_CODES = new Set([
  'UNKNOWN',
  'UNSUPPORTED',
  'UNAUTHORIZED',
  'DENIED',
  'UNAVAILABLE',
  'TOOMANYREQUESTS',
  'DIGEST_INVALID',
  'SIZE_INVALID',
  'NAME_INVALID',
  'TAG_INVALID',
  'NAME_UNKNOWN',
  'MANIFEST_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNVERIFIED',
  'MANIFEST_BLOB_UNKNOWN',
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'PAGINATION_NUMBER_INVALID',
  'RANGE_INVALID',
])

/** Default messages, for entries that come without one (errcode descriptors' Message). */
const DEFAULT_MESSAGES: Record<string, string> = {
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  TOOMANYREQUESTS: 'too many requests',
  UNKNOWN: 'unknown error',
}

function entryText(e: RegistryErrorEntry): string {
  const code = KNOWN_CODES.has(e.code) ? e.code : 'UNKNOWN'
  return `${code.toLowerCase().replace(/_/g, ' ')}: ${e.message}`
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  416: 'Requested Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'status code ' + status}`
}

/** Go's http.Method form in url.Error: "Get", "Head", "Put". */
export function goMethod(method: string): string {
  return method.charAt(0) + method.slice(1).toLowerCase()
}

/** The challenge parameters of a Bearer WWW-Authenticate header, for RFC 6750 errors. */
export interface BearerError {
  error?: string
  error_description?: string
}

/**
 * distribution's HandleErrorResponse: the entries and the text Docker shows for a failed
 * response. `bearer` is the response's Bearer challenge, whose error= says invalid_token or
 * insufficient_scope.
 */
export function parseErrorBody(
  status: number,
  body: string,
  bearer?: BearerError,
): { errors: RegistryErrorEntry[]; text: string } {
  if (status < 400 || status >= 500) {
    return { errors: [], text: `received unexpected HTTP status: ${statusLine(status)}` }
  }
  const errors: RegistryErrorEntry[] = []
  if (bearer?.error === 'invalid_token' || bearer?.error === 'insufficient_scope') {
    const code = bearer.error === 'invalid_token' ? 'UNAUTHORIZED' : 'DENIED'
    errors.push({ code, message: bearer.error_description || DEFAULT_MESSAGES[code]! })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    parsed = undefined
  }
  const obj =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined
  if (obj && typeof obj.details === 'string' && obj.details !== '') {
    // Irregular bodies some token servers send: {"details": "..."}.
    const code = status === 401 ? 'UNAUTHORIZED' : status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN'
    errors.push({ code, message: obj.details })
  } else if (obj && Array.isArray(obj.errors) && obj.errors.length > 0) {
    for (const e of obj.errors as unknown[]) {
      const r = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>
      const code = typeof r.code === 'string' ? r.code : 'UNKNOWN'
      const message =
        typeof r.message === 'string' && r.message !== ''
          ? r.message
          : (DEFAULT_MESSAGES[code] ?? '')
      const entry: RegistryErrorEntry = { code, message }
      if (r.detail !== undefined) entry.detail = r.detail
      errors.push(entry)
    }
  } else if (errors.length === 0) {
    if (status === 401) {
      errors.push({ code: 'UNAUTHORIZED', message: DEFAULT_MESSAGES.UNAUTHORIZED! })
    } else {
      const why = obj ? 'no error details found in HTTP response body' : 'invalid character in body'
      return {
        errors: [],
        text: `error parsing HTTP ${status} response body: ${why}: ${JSON.stringify(body)}`,
      }
    }
  }
  const text =
    errors.length === 1 ? entryText(errors[0]!) : `errors:\n${errors.map(entryText).join('\n')}\n`
  return { errors, text }
}

/**
 * The BerthError for a registry's failed response, its RegistryResponse as the cause. `prefix`
 * names the request the failure is reported against (Go's url.Error), when it is not this one:
 * a token server's refusal reads as the registry request that needed the token failing.
 */
export function responseError(
  method: string,
  url: string,
  status: number,
  body: string,
  bearer?: BearerError,
  prefix?: string,
): BerthError {
  const { errors, text } = parseErrorBody(status, body, bearer)
  const cause = new RegistryResponse(method, url, status, errors, text)
  const msg = prefix ? `${prefix}: ${text}` : text
  if (status === 401) return new Unauthorized(msg, { cause })
  if (status === 403) return new Forbidden(msg, { cause })
  if (status === 404) return new NotFound(msg, { cause })
  if (status === 503) return new Unavailable(msg, { cause })
  return new Internal(msg, { cause })
}

/** The registry's answer behind an error, when it was one. */
export function registryResponseOf(err: unknown): RegistryResponse | undefined {
  if (isBerthError(err) && err.cause instanceof RegistryResponse) return err.cause
  return undefined
}

/** Go's wording for what went wrong below HTTP; `inBody` when the answer had begun. */
function networkDetail(err: unknown, url: URL, inBody: boolean): string {
  const code = errnoCode(err)
  const e = err as { address?: string; port?: number; hostname?: string; message?: string }
  const target = e.address
    ? `${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port ?? url.port}`
    : url.host
  switch (code) {
    case 'ECONNREFUSED':
      return `dial tcp ${target}: connect: connection refused`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${e.hostname ?? url.hostname}: no such host`
    case 'ECONNRESET':
      return `read tcp ${target}: read: connection reset by peer`
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `dial tcp ${target}: i/o timeout`
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return 'tls: failed to verify certificate: x509: certificate signed by unknown authority'
    case 'CERT_HAS_EXPIRED':
      return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid'
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `tls: failed to verify certificate: x509: certificate is not valid for ${url.hostname}`
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return 'remote error: tls: certificate required'
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
      return 'remote error: tls: bad certificate'
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
      return 'http: server gave HTTP response to HTTPS client'
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return inBody ? 'unexpected EOF' : 'EOF'
    default:
      return e.message ?? String(err)
  }
}

/**
 * Go's url.Error for a request that got no answer, or whose answer broke off (`inBody`); the
 * cause is the network error.
 */
export function networkError(
  method: string,
  url: string,
  err: unknown,
  inBody = false,
): BerthError {
  if (isBerthError(err)) return err
  return new Internal(`${goMethod(method)} "${url}": ${networkDetail(err, new URL(url), inBody)}`, {
    cause: err,
  })
}

/** Connection failures worth another try: resets, drops, timeouts; not a refused connection. */
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

/** Whether an error (or the network error behind it) is a dropped or reset connection. */
export function isRetryableNetworkError(err: unknown): boolean {
  const code = errnoCode(err) ?? errnoCode((err as { cause?: unknown } | undefined)?.cause)
  return code !== undefined && RETRYABLE_CODES.has(code)
}
