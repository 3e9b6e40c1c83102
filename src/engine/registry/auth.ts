// Registry authentication as Docker's distribution client does it: the WWW-Authenticate challenge
// of a ping picks the scheme; Basic sends the credentials; Bearer gets a token from the realm for
// the scopes a request needs (GET with Basic credentials, or an OAuth2 POST with an identity
// token), cached per scope until it expires.
import { createHash } from 'node:crypto'
import { InvalidArgument } from '../errors.ts'
import type { AuthConfig } from './types.ts'

export interface Challenge {
  /** Lower case: "basic", "bearer". */
  scheme: string
  params: Record<string, string>
}

/** Parses WWW-Authenticate values: `Bearer realm="...",service="...",scope="..."`, `Basic realm="x"`. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return []
  const values = Array.isArray(header) ? header : [header]
  const out: Challenge[] = []
  for (const v of values) {
    let i = 0
    const n = v.length
    const skipSpace = (): void => {
      while (i < n && (v[i] === ' ' || v[i] === '\t')) i++
    }
    const token = (): string => {
      const start = i
      while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(v[i]!)) i++
      return v.slice(start, i)
    }
    while (i < n) {
      skipSpace()
      while (i < n && v[i] === ',') i++
      skipSpace()
      const scheme = token()
      if (scheme === '') break
      const params: Record<string, string> = {}
      out.push({ scheme: scheme.toLowerCase(), params })
      for (;;) {
        skipSpace()
        const save = i
        const key = token()
        skipSpace()
        if (key === '' || v[i] !== '=') {
          // The next challenge's scheme, or the end.
          i = save
          break
        }
        i++
        skipSpace()
        let value = ''
        if (v[i] === '"') {
          i++
          while (i < n && v[i] !== '"') {
            if (v[i] === '\\' && i + 1 < n) i++
            value += v[i]
            i++
          }
          i++
        } else {
          value = token()
        }
        params[key.toLowerCase()] = value
        skipSpace()
        if (v[i] === ',') i++
      }
    }
  }
  return out
}

/** The username and secrets a request may use, from an AuthConfig. */
export interface Credentials {
  username: string
  password: string
  /** An OAuth2 refresh token, used instead of the password. */
  identityToken: string
  /** A bearer token for the registry itself. */
  registryToken: string
}

/** An AuthConfig's credentials; `auth` (base64 user:pass) stands in for absent username and password. */
export function credentialsOf(auth: AuthConfig | undefined): Credentials {
  let username = auth?.username ?? ''
  let password = auth?.password ?? ''
  if (username === '' && password === '' && auth?.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) throw new InvalidArgument('invalid auth configuration file')
    username = decoded.slice(0, colon)
    password = decoded.slice(colon + 1)
  }
  return {
    username,
    password,
    identityToken: auth?.identitytoken ?? '',
    registryToken: auth?.registrytoken ?? '',
  }
}

/** A short key naming the credentials, so tokens are never shared between users. */
export function credentialsKey(c: Credentials): string {
  if (!c.username && !c.password && !c.identityToken && !c.registryToken) return 'anonymous'
  return createHash('sha256')
    .update(JSON.stringify([c.username, c.password, c.identityToken, c.registryToken]))
    .digest('hex')
    .slice(0, 32)
}

export function basicHeader(c: Credentials): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64')
}

/** A repository scope: repository:NAME:pull,push. */
export function repositoryScope(path: string, actions: readonly string[]): string {
  return `repository:${path}:${actions.join(',')}`
}

/** Merges scopes naming the same resource: repository:a:pull + repository:a:push -> pull,push. */
export function normalizeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>()
  for (const s of scopes) {
    const last = s.lastIndexOf(':')
    const resource = last > 0 ? s.slice(0, last) : s
    const actions = last > 0 ? s.slice(last + 1).split(',') : []
    const set = byResource.get(resource) ?? new Set<string>()
    for (const a of actions) if (a) set.add(a)
    byResource.set(resource, set)
  }
  return [...byResource.entries()].map(([r, a]) => `${r}:${[...a].sort().join(',')}`).sort()
}

/** What a token server answered. */
export interface Token {
  token: string
  /** ms since the epoch */
  expiresAt: number
  /** A refresh token (login with offline access), kept as the identity token. */
  refreshToken?: string
}

/** distribution's minimum: a token claiming a shorter life is kept for a minute. */
const MIN_TOKEN_LIFETIME_S = 60
/** Renew a token this long before it expires, so it does not expire in flight. */
const RENEW_MARGIN_MS = 5_000

/** Reads a token response: token or access_token, expires_in, issued_at, refresh_token. */
export function parseTokenResponse(body: unknown, now: number): Token {
  const r = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  const token =
    (typeof r.token === 'string' && r.token) ||
    (typeof r.access_token === 'string' && r.access_token) ||
    ''
  if (token === '') {
    throw new InvalidArgument('authorization server did not include a token in the response')
  }
  let lifetime = typeof r.expires_in === 'number' ? r.expires_in : MIN_TOKEN_LIFETIME_S
  if (lifetime < MIN_TOKEN_LIFETIME_S) lifetime = MIN_TOKEN_LIFETIME_S
  let issued = now
  if (typeof r.issued_at === 'string') {
    const t = Date.parse(r.issued_at)
    if (!Number.isNaN(t)) issued = t
  }
  const out: Token = { token, expiresAt: issued + lifetime * 1000 }
  if (typeof r.refresh_token === 'string' && r.refresh_token) out.refreshToken = r.refresh_token
  return out
}

/** Tokens by realm, service, scopes and credentials; an expired one is gone. */
export class TokenCache {
  private readonly tokens = new Map<string, Token>()
  constructor(private readonly now: () => number) {}

  static key(realm: string, service: string, scopes: readonly string[], creds: string): string {
    return JSON.stringify([realm, service, normalizeScopes(scopes), creds])
  }

  get(key: string): Token | undefined {
    const t = this.tokens.get(key)
    if (t && t.expiresAt - RENEW_MARGIN_MS > this.now()) return t
    this.tokens.delete(key)
    return undefined
  }

  set(key: string, t: Token): void {
    this.tokens.set(key, t)
  }

  drop(key: string): void {
    this.tokens.delete(key)
  }
}
