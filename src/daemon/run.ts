// berthd's core, apart from the real engine so tests can run it with a fake:
// take the data root's lock, build the engine, serve the API on the socket,
// and undo it all on SIGTERM/SIGINT.
import { chmod, chown, mkdir, readFile, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { dirname } from 'node:path'
import type { Engine } from '../engine/engine.ts'
import { createApiServer } from '../api/server.ts'
import { BERTH_VERSION, API_VERSION } from '../api/version.ts'
import { ConfigError, USAGE, applyConfigFile, parseArgs, type DaemonConfig } from './config.ts'
import { LockBusy, lockDataRoot } from './lock.ts'
import { createLogger, type Logger } from './log.ts'
import { homedir } from 'node:os'
import { berthPaths, servedUid } from '../lib/userpaths.ts'
import { inUserNamespace } from '../lib/userns.ts'
import { ensurePrivateDir, runInUserNamespace } from './rootless.ts'

export type ClosableEngine = Engine & {
  close(): Promise<void>
  /**
   * Cancels the work under way that must not outlive the daemon (builds, whose snapshots are
   * mounted), and waits for it to wind down, while its clients can still be told why.
   */
  interrupt?(): Promise<void>
}
export interface EngineOptions {
  dataRoot: string
  logger: Logger
  /** How the registry client reaches registries (--insecure-registry, certs.d, limits). */
  /** `--keep-removed`: how long removed containers stay in the trash (ms); 0: no trash. */
  keepRemovedMs?: number
  /** The daemon setting --gpus-from-env. */
  gpusFromEnv?: boolean
  /** The daemon setting --cdi-spec-dir (the GPU module's default when absent). */
  cdiSpecDirs?: string[]
  /** --ipv6 with --fixed-cidr-v6: the default bridge's IPv6 subnet ('' for one berth picks). */
  defaultSubnet6?: string
  /** Rootless: berthd serves this user from inside its user namespace; runtime state here. */
  rootless?: { uid: number; execRoot: string }
  registry?: {
    insecureRegistries?: string[]
    mirrors?: string[]
    /** The proxy settings given to the daemon; each one unset is read from its environment. */
    proxies?: { httpProxy?: string; httpsProxy?: string; noProxy?: string }
    certsDir?: string
    maxConcurrentDownloads?: number
    maxConcurrentUploads?: number
  }
}

export type CreateEngineFn = (opts: EngineOptions) => Promise<ClosableEngine>

export interface RunningDaemon {
  readonly server: Server
  readonly engine: ClosableEngine
  readonly socketPath: string
  /** Stops serving, closes the engine, removes the socket and drops the lock. */
  stop(): Promise<void>
}

/** The gid of a group in /etc/group; ConfigError when there is none by that name. */
export async function groupId(name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number.parseInt(name, 10)
  const text = await readFile('/etc/group', 'utf8')
  for (const line of text.split('\n')) {
    const [gname, , gid] = line.split(':')
    if (gname === name && gid !== undefined) return Number.parseInt(gid, 10)
  }
  throw new ConfigError(`group ${name} not found`)
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

export async function runDaemon(
  config: DaemonConfig,
  createEngine: CreateEngineFn,
  opts: { logger?: Logger } = {},
): Promise<RunningDaemon> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel })
  const gid = config.group === undefined ? 0 : await groupId(config.group)
  const rootless = config.rootless
  const lock = await lockDataRoot(config.dataRoot)
  let engine: ClosableEngine | undefined
  try {
    logger.info('Starting up', { version: BERTH_VERSION, 'data-root': config.dataRoot })
    engine = await createEngine({
      dataRoot: config.dataRoot,
      logger,
      ...(config.keepRemovedMs ? { keepRemovedMs: config.keepRemovedMs } : {}),
      gpusFromEnv: config.gpusFromEnv === true,
      ...(config.ipv6 ? { defaultSubnet6: config.fixedCidrV6 ?? '' } : {}),
      ...(config.cdiSpecDirs ? { cdiSpecDirs: config.cdiSpecDirs } : {}),
      ...(rootless ? { rootless: { uid: rootless.uid, execRoot: rootless.execRoot } } : {}),
      registry: {
        insecureRegistries: config.insecureRegistries ?? [],
        ...(config.registryMirrors ? { mirrors: config.registryMirrors } : {}),
        ...(config.proxies ? { proxies: config.proxies } : {}),
        ...(config.registryCertsDir ? { certsDir: config.registryCertsDir } : {}),
        ...(config.maxConcurrentDownloads
          ? { maxConcurrentDownloads: config.maxConcurrentDownloads }
          : {}),
        ...(config.maxConcurrentUploads
          ? { maxConcurrentUploads: config.maxConcurrentUploads }
          : {}),
      },
    })
    // Rootless: the user's socket is the user's alone (whoever reaches it runs containers as
    // the user).
    await mkdir(dirname(config.socketPath), { recursive: true, mode: rootless ? 0o700 : 0o755 })
    // Only now, holding the lock, is a socket file at this path surely stale.
    await rm(config.socketPath, { force: true })
    const server = createApiServer(engine, { logger })
    const sockets = new Set<Socket>()
    server.on('connection', (s: Socket) => {
      sockets.add(s)
      s.once('close', () => sockets.delete(s))
    })
    await listen(server, config.socketPath)
    await chmod(config.socketPath, rootless ? 0o600 : 0o660)
    if (!rootless) await chown(config.socketPath, 0, gid)
    logger.info('Daemon has completed initialization', { 'api-version': API_VERSION })
    logger.info(`API listen on ${config.socketPath}`)

    const eng = engine
    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        logger.info('Processing signal, shutting down')
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        await eng.interrupt?.()
        // Idle keep-alive clients and hijacked streams would hold close() open;
        // containers live on under conmon, so cutting them is safe.
        for (const s of sockets) s.destroy()
        await closed
        try {
          await eng.close()
        } finally {
          await rm(config.socketPath, { force: true })
          await lock.release()
        }
        logger.info('Daemon shutdown complete')
      })()
      return stopping
    }
    return { server, engine: eng, socketPath: config.socketPath, stop }
  } catch (err) {
    if (engine) await engine.close().catch(() => {})
    await lock.release()
    throw err
  }
}

export interface MainIO {
  stdout: (s: string) => void
  stderr: (s: string) => void
  exit: (code: number) => void
}

const realIO: MainIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  exit: (code) => process.exit(code),
}

/** berthd from argv to exit: what main.ts runs with the real engine. */
export async function daemonMain(
  argv: readonly string[],
  createEngine: CreateEngineFn,
  io: MainIO = realIO,
): Promise<void> {
  let config: DaemonConfig
  try {
    // An ordinary user's berthd has paths of its own, also once re-run inside its namespace.
    const uid = process.getuid?.() ?? 0
    const served = servedUid(uid, process.env, uid === 0 && inUserNamespace())
    const paths = berthPaths(served, process.env, served === uid ? homedir() : undefined)
    const parsed = parseArgs(argv, { ...paths, uid: served })
    if (parsed.action === 'help') {
      io.stdout(USAGE)
      return io.exit(0)
    }
    if (parsed.action === 'version') {
      io.stdout(`berthd version ${BERTH_VERSION}, API ${API_VERSION}\n`)
      return io.exit(0)
    }
    config = await applyConfigFile(parsed.config, parsed.given)
    if (config.rootless && uid !== 0) {
      // Not yet in the user's namespaces: run there, and end as that berthd ends.
      return io.exit(await runInUserNamespace(argv, config.rootless))
    }
    if (config.rootless?.privateTmp) await ensurePrivateDir(config.rootless.privateTmp, 0)
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr(`berthd: ${err.message}\nSee 'berthd --help'.\n`)
      return io.exit(1)
    }
    throw err
  }

  let daemon: RunningDaemon
  try {
    daemon = await runDaemon(config, createEngine)
  } catch (err) {
    if (err instanceof LockBusy || err instanceof ConfigError) {
      io.stderr(`berthd: ${err.message}\n`)
    } else {
      io.stderr(
        `berthd: failed to start daemon: ${err instanceof Error ? err.message : String(err)}\n`,
      )
    }
    return io.exit(1)
  }

  let signals = 0
  const onSignal = (): void => {
    signals++
    if (signals > 1) return io.exit(1)
    daemon.stop().then(
      () => io.exit(0),
      (err: unknown) => {
        io.stderr(`berthd: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`)
        io.exit(1)
      },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}
