// berthd started by an ordinary user: make (or find) the user's namespaces, then run berthd
// again inside them as their root, and stay as its parent (forwarding signals, exiting with
// its status), so whoever started berthd sees one process from start to exit.
import { spawn } from 'node:child_process'
import { lstat, mkdir, open, type FileHandle } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { isBerthError } from '../engine/errors.ts'
import { enterArgs, ensureHolder, userNsPlan } from '../engine/host/userns.ts'
import { tryLockExclusive } from '../engine/sys/libc.ts'
import { ROOTLESS_UID_ENV } from '../lib/userpaths.ts'
import { ConfigError } from './config.ts'

/**
 * Makes the user's runtime directory: under XDG_RUNTIME_DIR it is made as needed; a private
 * directory under /tmp must be the user's own and closed to everyone else, else someone could
 * have made it first to watch or feed our socket.
 */
export async function ensurePrivateDir(dir: string, uid: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const st = await lstat(dir)
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new ConfigError(
      `${dir} must be a directory owned by uid ${uid} and closed to others (mode 0700); ` +
        `remove it or set XDG_RUNTIME_DIR`,
    )
  }
}

/** Holds execRoot's lock for berthd's life: one rootless berthd per user and runtime dir. */
async function lockExecRoot(execRoot: string): Promise<FileHandle> {
  const fh = await open(join(execRoot, 'berthd.lock'), 'a+', 0o600)
  if (!tryLockExclusive(fh.fd)) {
    const text = (await fh.readFile({ encoding: 'utf8' })).trim()
    await fh.close()
    throw new ConfigError(
      `another berthd already serves this user from ${execRoot} (pid ${text || 'unknown'})`,
    )
  }
  await fh.truncate(0)
  await fh.write(`${process.pid}\n`)
  return fh
}

/**
 * Runs berthd (this same script and argv) inside the user's namespaces and resolves with its
 * exit status. Errors that the user must act on are ConfigErrors (main prints them).
 */
export async function runInUserNamespace(
  argv: readonly string[],
  rootless: { uid: number; execRoot: string },
): Promise<number> {
  await ensurePrivateDir(rootless.execRoot, rootless.uid)
  const lock = await lockExecRoot(rootless.execRoot)
  try {
    const me = userInfo()
    let plan
    try {
      plan = await userNsPlan({
        name: me.username,
        uid: rootless.uid,
        gid: me.gid,
        group: String(me.gid),
      })
    } catch (err) {
      if (isBerthError(err)) throw new ConfigError(err.message)
      throw err
    }
    let holder
    try {
      holder = await ensureHolder(rootless.execRoot, plan)
    } catch (err) {
      if (isBerthError(err)) throw new ConfigError(err.message)
      throw err
    }
    const self = [process.execPath, ...process.execArgv, process.argv[1]!, ...argv]
    const child = spawn('nsenter', enterArgs(holder.pid, self), {
      stdio: 'inherit',
      env: { ...process.env, [ROOTLESS_UID_ENV]: String(rootless.uid) },
    })
    const forward = (sig: NodeJS.Signals) => (): void => void child.kill(sig)
    const onTerm = forward('SIGTERM')
    const onInt = forward('SIGINT')
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onInt)
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(new ConfigError(`cannot run nsenter: ${e.message}`)))
      child.once('exit', (code, sig) => {
        process.off('SIGTERM', onTerm)
        process.off('SIGINT', onInt)
        resolve(code ?? (sig === 'SIGTERM' || sig === 'SIGINT' ? 0 : 1))
      })
    })
  } finally {
    await lock.close()
  }
}
