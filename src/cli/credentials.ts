// Registry credentials where and as the docker CLI keeps them: config.json in DOCKER_CONFIG (or
// ~/.docker) with `auths` (base64 user:password, identitytoken), and the docker-credential-*
// helper programs named by `credsStore` and `credHelpers`. The CLI reads them to send the
// X-Registry-Auth header, and login/logout write them.
// fs.promises (its module loads readline and more) only where a file is written: config.json is
// read on every build, synchronously, as small as it is
import { promises as fsp, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

/** Docker's AuthConfig, as the X-Registry-Auth header and POST /auth carry it. */
export interface DockerAuth {
  username?: string
  password?: string
  auth?: string
  email?: string
  serveraddress?: string
  identitytoken?: string
  registrytoken?: string
}

/** Where Docker Hub's credentials are filed. */
export const INDEX_SERVER = 'https://index.docker.io/v1/'

/** The username a helper stores an identity token under. */
const TOKEN_USERNAME = '<token>'

export class CredentialsError extends Error {}

/** --config, then DOCKER_CONFIG, then ~/.docker. */
export function configDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag
  if (env.DOCKER_CONFIG) return env.DOCKER_CONFIG
  return join(env.HOME || homedir(), '.docker')
}

/** The key credentials are filed under for a registry: Docker Hub's URL, else host[:port]. */
export function credentialsKey(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? INDEX_SERVER : registry
}

/** docker/cli's ConvertToHostname: a legacy key such as https://host/v1/ to host. */
function toHostname(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0]!
}

/** The X-Registry-Auth value: base64url of the JSON, padded, as Go's URLEncoding writes it. */
export function encodeAuthHeader(a: DockerAuth): string {
  const json: Record<string, string> = {}
  for (const [k, v] of Object.entries(a)) if (typeof v === 'string' && v !== '') json[k] = v
  return Buffer.from(JSON.stringify(json))
    .toString('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
}

interface AuthEntry {
  auth?: string
  email?: string
  identitytoken?: string
  [k: string]: unknown
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>
  credsStore?: string
  credHelpers?: Record<string, string>
  [k: string]: unknown
}

/** What a helper or the file gave: none, or credentials. */
function fromEntry(key: string, e: AuthEntry): DockerAuth {
  const out: DockerAuth = { serveraddress: key }
  if (e.auth) {
    const dec = Buffer.from(e.auth, 'base64').toString('utf8')
    const i = dec.indexOf(':')
    if (i < 0) throw new CredentialsError('invalid auth configuration file')
    out.username = dec.slice(0, i)
    out.password = dec.slice(i + 1)
  }
  if (e.email) out.email = e.email
  if (e.identitytoken) out.identitytoken = e.identitytoken
  return out
}

export class CredentialStore {
  readonly file: string

  constructor(
    readonly dir: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.file = join(dir, 'config.json')
  }

  private async load(): Promise<ConfigFile> {
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return {}
      throw err
    }
    if (text.trim() === '') return {}
    try {
      const v = JSON.parse(text) as unknown
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
      return v as ConfigFile
    } catch (err) {
      throw new CredentialsError(`loading config file: ${this.file}: ${(err as Error).message}`)
    }
  }

  /** Writes config.json atomically, mode 0600, keeping every key it does not manage. */
  private async save(cfg: ConfigFile): Promise<void> {
    await fsp.mkdir(dirname(this.file), { recursive: true, mode: 0o700 })
    const tmp = `${this.file}.${process.pid}.tmp`
    await fsp.writeFile(tmp, JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600 })
    await fsp.rename(tmp, this.file)
  }

  /** The helper for a key: credHelpers by host, else credsStore, else none (the file). */
  private helperFor(cfg: ConfigFile, key: string): string | undefined {
    const h = cfg.credHelpers?.[toHostname(key)] ?? cfg.credHelpers?.[key]
    return h || cfg.credsStore || undefined
  }

  /** Runs docker-credential-NAME ACTION with `input` on stdin; its stdout, or its error. */
  private async helper(name: string, action: string, input: string): Promise<string> {
    // node:child_process (with net and dgram) only when a helper is named: a build reads
    // config.json on every run and rarely needs one.
    const { runHelper } = await import('./credhelper.ts')
    return runHelper(`docker-credential-${name}`, action, input, this.env)
  }

  /** The credentials for a registry; empty (anonymous) when none are kept. */
  async get(registry: string): Promise<DockerAuth> {
    const key = credentialsKey(registry)
    const cfg = await this.load()
    const helper = this.helperFor(cfg, key)
    if (helper) {
      let text: string
      try {
        text = await this.helper(helper, 'get', key)
      } catch (err) {
        if (/credentials not found in native keychain/.test((err as Error).message))
          return { serveraddress: key }
        throw new CredentialsError(`error getting credentials - err: ${(err as Error).message}`)
      }
      const r = JSON.parse(text) as { Username?: string; Secret?: string }
      const out: DockerAuth = { serveraddress: key }
      if (r.Username === TOKEN_USERNAME) out.identitytoken = r.Secret ?? ''
      else {
        out.username = r.Username ?? ''
        out.password = r.Secret ?? ''
      }
      const email = cfg.auths?.[key]?.email
      if (email) out.email = email
      return out
    }
    const auths = cfg.auths ?? {}
    const exact = auths[key]
    if (exact) return fromEntry(key, exact)
    for (const [k, e] of Object.entries(auths)) {
      if (toHostname(k) === key) return fromEntry(key, e)
    }
    return { serveraddress: key }
  }

  /**
   * Every registry's credentials (docker/cli's GetAllCredentials), for a build's FROM pulls:
   * config.json's auths, credHelpers and what the credsStore lists.
   */
  async all(): Promise<Record<string, DockerAuth>> {
    const cfg = await this.load()
    const keys = new Set([...Object.keys(cfg.auths ?? {}), ...Object.keys(cfg.credHelpers ?? {})])
    if (cfg.credsStore) {
      const listed = JSON.parse(await this.helper(cfg.credsStore, 'list', '')) as Record<
        string,
        string
      >
      for (const k of Object.keys(listed)) keys.add(k)
    }
    const out: Record<string, DockerAuth> = {}
    for (const k of keys) {
      const a = await this.get(k)
      if (a.username || a.password || a.identitytoken || a.registrytoken) out[k] = a
    }
    return out
  }

  /**
   * Keeps credentials for a registry: in its helper when one is configured, else in config.json
   * (base64, not encrypted). Returns where they went: 'helper' or the file's path.
   */
  async store(registry: string, a: DockerAuth): Promise<string> {
    const key = credentialsKey(registry)
    const cfg = await this.load()
    const helper = this.helperFor(cfg, key)
    const auths = (cfg.auths ??= {})
    if (helper) {
      const secret = a.identitytoken ? a.identitytoken : (a.password ?? '')
      const username = a.identitytoken ? TOKEN_USERNAME : (a.username ?? '')
      try {
        await this.helper(
          helper,
          'store',
          JSON.stringify({ ServerURL: key, Username: username, Secret: secret }),
        )
      } catch (err) {
        throw new CredentialsError(`error storing credentials - err: ${(err as Error).message}`)
      }
      // The file keeps an entry (the email at most), so the registry is listed as logged in.
      auths[key] = a.email ? { email: a.email } : {}
      await this.save(cfg)
      return 'helper'
    }
    const entry: AuthEntry = {}
    // With an identity token the password is not kept, as the docker CLI does.
    const password = a.identitytoken ? '' : (a.password ?? '')
    if (a.username || password)
      entry.auth = Buffer.from(`${a.username ?? ''}:${password}`).toString('base64')
    if (a.email) entry.email = a.email
    if (a.identitytoken) entry.identitytoken = a.identitytoken
    auths[key] = entry
    await this.save(cfg)
    return this.file
  }

  /** Forgets a registry's credentials; false when none were kept. */
  async erase(registry: string): Promise<boolean> {
    const key = credentialsKey(registry)
    const cfg = await this.load()
    const helper = this.helperFor(cfg, key)
    let found = false
    if (helper) {
      try {
        await this.helper(helper, 'erase', key)
        found = true
      } catch (err) {
        if (!/credentials not found in native keychain/.test((err as Error).message))
          throw new CredentialsError(`error erasing credentials - err: ${(err as Error).message}`)
      }
    }
    const auths = cfg.auths ?? {}
    for (const k of Object.keys(auths)) {
      if (k === key || toHostname(k) === key) {
        delete auths[k]
        found = true
      }
    }
    if (found) await this.save(cfg)
    return found
  }
}

/** POST /build's X-Registry-Config: base64url of every registry's credentials, by key. */
export async function registryConfigHeader(
  configFlag?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  // docker build goes on without credentials when they cannot be read, and so does berth.
  const all = await new CredentialStore(configDir(configFlag, env), env).all().catch(() => ({}))
  return Buffer.from(JSON.stringify(all)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
}

/**
 * The X-Registry-Auth header for an image reference's registry (docker.io, localhost:5000...),
 * from config.json or its helper; sent even when empty, as the docker CLI does.
 */
export async function authHeaderFor(
  domain: string,
  configFlag?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const store = new CredentialStore(configDir(configFlag, env), env)
  return encodeAuthHeader(await store.get(domain))
}
