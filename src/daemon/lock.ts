// One berthd per data root: an exclusive flock on <dataRoot>/berthd.lock,
// which holds the owner's pid. The kernel drops the lock when its process dies,
// so a file left by a killed daemon never blocks the next one.
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { tryLockExclusive } from '../engine/sys/libc.ts'

export class LockBusy extends Error {
  constructor(
    readonly dataRoot: string,
    readonly pid: number | undefined,
  ) {
    super(`data root ${dataRoot} is in use by another berthd (pid ${pid ?? 'unknown'})`)
    this.name = 'LockBusy'
  }
}

export interface DataRootLock {
  readonly path: string
  release(): Promise<void>
}

export async function lockDataRoot(dataRoot: string): Promise<DataRootLock> {
  await mkdir(dataRoot, { recursive: true, mode: 0o711 })
  const path = join(dataRoot, 'berthd.lock')
  const fh: FileHandle = await open(path, 'a+', 0o644)
  try {
    if (!tryLockExclusive(fh.fd)) {
      const text = (await fh.readFile({ encoding: 'utf8' })).trim()
      const pid = /^\d+$/.test(text) ? Number.parseInt(text, 10) : undefined
      throw new LockBusy(dataRoot, pid)
    }
    await fh.truncate(0)
    // 'a+' appends, so the pid lands at offset 0 of the now empty file.
    await fh.write(`${process.pid}\n`)
    await fh.sync()
  } catch (err) {
    await fh.close()
    throw err
  }
  let released = false
  return {
    path,
    async release() {
      if (released) return
      released = true
      // Closing the descriptor drops the flock; the file stays, harmlessly.
      await fh.close()
    },
  }
}
