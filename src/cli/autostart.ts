// Starts berthd when nothing answers on the default socket, then waits for it to answer /_ping:
// woken by fs.watch on the socket's directory (no polling loop), with a 10 s limit.
import { spawn } from 'node:child_process'
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, watch } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { berthdNodeFlags } from '../lib/berthd-flags.ts'
import type { Client } from './client.ts'
import { ConnectError } from './client.ts'
import { CliError, err } from './command.ts'
import { userPaths } from './defaults.ts'

const START_TIMEOUT_MS = 10_000

/** dist/berthd.mjs beside the running CLI file, with berthd's node flags; else `berthd` from PATH. */
export function berthdCommand(): { cmd: string; args: string[] } {
  const candidates = [
    process.argv[1] ? dirname(process.argv[1]) : '',
    dirname(fileURLToPath(import.meta.url)),
  ]
  for (const dir of candidates) {
    if (!dir) continue
    const p = join(dir, 'berthd.mjs')
    if (existsSync(p)) return { cmd: process.execPath, args: [...berthdNodeFlags, p] }
  }
  return { cmd: 'berthd', args: [] }
}

function openLog(): { fd: number; path: string } {
  const paths = userPaths()
  // An ordinary user's berthd logs beside its socket: nothing of it is written elsewhere.
  const places = paths.rootless
    ? [join(paths.execRoot, 'berthd.log')]
    : ['/var/log/berthd.log', '/var/lib/berth/berthd.log']
  for (const p of places) {
    try {
      mkdirSync(dirname(p), { recursive: true })
      return { fd: openSync(p, 'a'), path: p }
    } catch {
      // not writable here; try the next place
      continue
    }
  }
  return { fd: -1, path: '' }
}

/** berthd's last line in its log (why it stopped), to show beside the CLI's own words. */
function lastWords(path: string): string {
  if (!path) return ''
  try {
    // berthd's usage hint after its error says nothing to a berth user.
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith("See 'berthd --help'"))
    const last = lines[lines.length - 1]?.trim()
    return last ? `\n${last}` : ''
  } catch {
    return ''
  }
}

export async function startDaemon(client: Client): Promise<void> {
  err(`berth: no daemon at ${client.socketPath}, starting berthd\n`)
  const dir = dirname(client.socketPath)
  const paths = userPaths()
  mkdirSync(dir, { recursive: true, ...(paths.rootless ? { mode: 0o700 } : {}) })
  if (paths.privateTmp && dir === paths.privateTmp) {
    // Made by us, or else someone else's trap: berthd checks it too, but say it here first.
    const st = lstatSync(dir)
    const uid = process.getuid?.() ?? 0
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
      throw new CliError(
        `berth: ${dir} must be a directory owned by you and closed to others (mode 0700); remove it or set XDG_RUNTIME_DIR`,
        125,
      )
    }
  }
  const log = openLog()
  const { cmd, args } = berthdCommand()
  const stdio = log.fd >= 0 ? (['ignore', log.fd, log.fd] as const) : ('ignore' as const)
  const child = spawn(cmd, args, { detached: true, stdio: stdio as never })
  const logHint = log.path ? `; see ${log.path}` : ''

  await new Promise<void>((resolve, reject) => {
    let settled = false
    let trying = false
    let again = false
    const finish = (e?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      watcher.close()
      child.off('exit', onExit)
      child.off('error', onError)
      if (e) reject(e)
      else resolve()
    }
    const attempt = () => {
      if (settled) return
      if (trying) {
        again = true
        return
      }
      trying = true
      client.ping().then(
        () => finish(),
        (e: unknown) => {
          trying = false
          if (!(e instanceof ConnectError)) return finish(e as Error)
          if (again) {
            again = false
            attempt()
          }
        },
      )
    }
    const onExit = (code: number | null) =>
      finish(
        new CliError(
          `berth: berthd exited (status ${code ?? 'signal'}) before it answered${logHint}${lastWords(log.path)}`,
          125,
        ),
      )
    const onError = (e: Error) =>
      finish(new CliError(`berth: cannot start berthd: ${e.message}`, 125))
    child.once('exit', onExit)
    child.once('error', onError)
    const watcher = watch(dir, () => attempt())
    const timer = setTimeout(
      () =>
        finish(
          new CliError(
            `berth: berthd did not answer on ${client.socketPath} within 10s${logHint}`,
            125,
          ),
        ),
      START_TIMEOUT_MS,
    )
    // the socket may have appeared between our failed ping and the watch starting
    attempt()
  })
  child.unref()
  if (log.fd >= 0) {
    closeSync(log.fd)
  }
}
