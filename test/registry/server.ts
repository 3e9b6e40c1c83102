// Debian's docker-registry (the reference registry, distribution v2) on a loopback port of its own,
// in a temporary directory: plain HTTP, htpasswd Basic auth, TLS (with client certificates when
// asked), or token auth fed by test/registry/tokens.ts. Fails loudly when the binary is missing.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { TOKEN_ISSUER, TOKEN_SERVICE } from './tokens.ts'

const run = promisify(execFile)

export const REGISTRY_BIN = '/usr/bin/docker-registry'

export interface RegistryServerOptions {
  /** htpasswd users (bcrypt, made with apache2-utils' htpasswd). */
  htpasswd?: Record<string, string>
  /** Token auth: the issuer's realm and the certificate its tokens are signed with. */
  token?: { realm: string; rootCert: string }
  tls?: { cert: string; key: string; clientCA?: string }
  /**
   * The address to listen on (default 127.0.0.1). Docker counts loopback registries as
   * insecure; one on another of the host's addresses is a secure one.
   */
  host?: string
  /** Extra YAML under http: (already indented). */
  extraHttp?: string
  /** Extra top-level YAML (validation:, proxy: ...). */
  extra?: string
  /** A network namespace (a file) to listen in: a daemon in that namespace reaches it on loopback. */
  netns?: string
}

export interface RegistryServer {
  /** HOST:PORT (127.0.0.1:PORT by default), the registry's name in references. */
  name: string
  url: string
  dir: string
  stop(): Promise<void>
}

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})

async function htpasswdFile(path: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = []
  for (const [u, p] of Object.entries(users)) {
    const { stdout } = await run('htpasswd', ['-Bbn', u, p])
    lines.push(stdout.trim())
  }
  await writeFile(path, lines.join('\n') + '\n')
}

/** One of the host's own addresses that is not loopback, for a registry Docker calls secure. */
export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  throw new Error(
    'this host has no IPv4 address besides loopback: the secure-registry tests need one',
  )
}

export async function startRegistry(opts: RegistryServerOptions = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'))
  let auth = ''
  if (opts.htpasswd) {
    await htpasswdFile(join(dir, 'htpasswd'), opts.htpasswd)
    auth = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`
  } else if (opts.token) {
    auth =
      `auth:\n  token:\n    realm: ${opts.token.realm}\n    service: ${TOKEN_SERVICE}\n` +
      `    issuer: ${TOKEN_ISSUER}\n    rootcertbundle: ${opts.token.rootCert}\n`
  }
  let tls = ''
  if (opts.tls) {
    tls = `  tls:\n    certificate: ${opts.tls.cert}\n    key: ${opts.tls.key}\n`
    if (opts.tls.clientCA) tls += `    clientcas:\n      - ${opts.tls.clientCA}\n`
  }
  const config =
    `version: 0.1\n` +
    `log:\n  level: info\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
    `  maintenance:\n    uploadpurging:\n      enabled: false\n` +
    `http:\n  addr: ${opts.host ?? '127.0.0.1'}:0\n  secret: berth-test-secret\n${tls}${opts.extraHttp ?? ''}` +
    auth +
    (opts.extra ?? '')
  await writeFile(join(dir, 'config.yml'), config)

  const argv = [REGISTRY_BIN, 'serve', join(dir, 'config.yml')]
  // nsenter execs the registry in the same process, so signals reach it directly.
  const [cmd, ...args] = opts.netns ? ['nsenter', `--net=${opts.netns}`, '--', ...argv] : argv
  const proc = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  live.add(proc)
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    await exited
    live.delete(proc)
    await rm(dir, { recursive: true, force: true })
  }
  // The registry logs its address once it listens; what it logs later is read and dropped.
  const name = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: proc.stderr! })
    const log: string[] = []
    const timer = setTimeout(
      () => reject(new Error(`docker-registry did not start:\n${log.join('\n')}`)),
      15_000,
    )
    let started = false
    lines.on('line', (l) => {
      if (started) return
      log.push(l)
      const m = /listening on ([0-9.]+:[0-9]+)/.exec(l)
      if (m) {
        started = true
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    proc.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`docker-registry exited (${code}):\n${log.join('\n')}`))
    })
  }).catch(async (err: unknown) => {
    await stop()
    throw err
  })
  return { name, url: `${opts.tls ? 'https' : 'http'}://${name}`, dir, stop }
}
