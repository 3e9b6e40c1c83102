// A small token issuer for the reference registry's `auth: token` mode: Docker's token protocol
// (GET with Basic credentials, OAuth2 POST with a password or a refresh token), answering JWTs
// signed ES256 with a key whose self-signed certificate is the registry's root bundle and rides
// in the x5c header.
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export const TOKEN_SERVICE = 'berth-test-registry'
export const TOKEN_ISSUER = 'berth-test-issuer'

export interface TokenRequestLog {
  method: string
  account?: string
  scopes: string[]
  grant?: string
  offline: boolean
}

export interface TokenIssuerOptions {
  /** Users and their passwords. */
  users: Record<string, string>
  /**
   * The actions a requester gets on a repository. Default: a known user gets what it asks for;
   * anyone may pull repositories under public/.
   */
  grant?: (account: string | undefined, repo: string, wanted: string[]) => string[]
  /** expires_in of each token, in seconds. */
  expiresIn?: number
}

export interface TokenIssuer {
  realm: string
  requests: TokenRequestLog[]
  /** The next n tokens are already expired when issued. */
  expireNext(n: number): void
  stop(): Promise<void>
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url')
}

function defaultGrant(account: string | undefined, repo: string, wanted: string[]): string[] {
  if (account !== undefined) return wanted
  return repo.startsWith('public/') ? wanted.filter((a) => a === 'pull') : []
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function startTokenIssuer(
  signing: { cert: string; key: string },
  opts: TokenIssuerOptions,
): Promise<TokenIssuer> {
  const key = createPrivateKey(await readFile(signing.key))
  const certDer = new X509Certificate(await readFile(signing.cert)).raw
  const grant = opts.grant ?? defaultGrant
  const requests: TokenRequestLog[] = []
  const refreshTokens = new Map<string, string>()
  let expireNext = 0

  function sign(account: string | undefined, scopes: string[]): { token: string; exp: number } {
    const now = Math.floor(Date.now() / 1000)
    let exp = now + (opts.expiresIn ?? 300)
    // Past the registry's 60 s leeway, so it refuses the token.
    if (expireNext > 0) {
      expireNext--
      exp = now - 300
    }
    const access = []
    for (const s of scopes) {
      const [type, ...rest] = s.split(':')
      const actions = rest.pop()?.split(',') ?? []
      const name = rest.join(':')
      if (type !== 'repository') continue
      const got = grant(account, name, actions)
      if (got.length > 0) access.push({ type, name, actions: got })
    }
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }
    const claims = {
      iss: TOKEN_ISSUER,
      sub: account ?? '',
      aud: TOKEN_SERVICE,
      exp,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    }
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
    const sig = createSign('sha256').update(input).sign({ key, dsaEncoding: 'ieee-p1363' })
    return { token: `${input}.${b64url(sig)}`, exp }
  }

  function checkBasic(req: IncomingMessage): string | undefined | false {
    const h = req.headers.authorization
    if (!h) return undefined
    const m = /^Basic (.+)$/i.exec(h)
    if (!m) return false
    const dec = Buffer.from(m[1]!, 'base64').toString('utf8')
    const i = dec.indexOf(':')
    const user = dec.slice(0, i)
    return opts.users[user] !== undefined && opts.users[user] === dec.slice(i + 1) ? user : false
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const deny = (): void => {
        res.writeHead(401, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ details: 'incorrect username or password' }))
      }
      let account: string | undefined
      let scopes: string[]
      let offline: boolean
      let grantType: string | undefined
      if (req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req))
        grantType = form.get('grant_type') ?? undefined
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean)
        offline = form.get('access_type') === 'offline'
        if (grantType === 'refresh_token') {
          account = refreshTokens.get(form.get('refresh_token') ?? '')
          if (account === undefined) return deny()
        } else if (grantType === 'password') {
          const u = form.get('username') ?? ''
          if (opts.users[u] === undefined || opts.users[u] !== form.get('password')) return deny()
          account = u
        } else {
          res.writeHead(400)
          res.end()
          return
        }
      } else {
        scopes = url.searchParams.getAll('scope')
        offline = url.searchParams.get('offline_token') === 'true'
        const who = checkBasic(req)
        if (who === false) return deny()
        account = who
      }
      const log: TokenRequestLog = { method: req.method ?? '', scopes, offline }
      if (account !== undefined) log.account = account
      if (grantType !== undefined) log.grant = grantType
      requests.push(log)
      const { token } = sign(account, scopes)
      const body: Record<string, unknown> = {
        token,
        access_token: token,
        expires_in: opts.expiresIn ?? 300,
        issued_at: new Date().toISOString(),
      }
      if (offline && account !== undefined) {
        const rt = randomBytes(16).toString('hex')
        refreshTokens.set(rt, account)
        body.refresh_token = rt
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    })().catch((err: unknown) => {
      res.writeHead(500)
      res.end(String(err))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    expireNext(n) {
      expireNext = n
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
