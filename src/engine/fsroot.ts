import { lstat, readlink } from 'node:fs/promises'
import { posix } from 'node:path'
import { InvalidArgument, errnoCode } from './errors.ts'

const MAX_SYMLINKS = 255

/**
 * Resolves `unsafePath` as if `root` were `/`: every symlink met on the way is followed
 * relative to root, and `..` never climbs above it. The result is a host path inside root
 * (its last components may not exist yet). Used wherever berth touches a container's files,
 * so that nothing inside a container can make berth read or write outside it.
 */
export async function resolveInRoot(root: string, unsafePath: string): Promise<string> {
  const pending = unsafePath.split('/').filter((c) => c !== '' && c !== '.')
  const resolved: string[] = []
  let links = 0
  while (pending.length > 0) {
    const part = pending.shift() as string
    if (part === '..') {
      resolved.pop()
      continue
    }
    const candidate = posix.join(root, ...resolved, part)
    let isLink = false
    try {
      isLink = (await lstat(candidate)).isSymbolicLink()
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw err
    }
    if (!isLink) {
      resolved.push(part)
      continue
    }
    if (++links > MAX_SYMLINKS) {
      throw new InvalidArgument(`too many levels of symbolic links resolving ${unsafePath}`)
    }
    const target = await readlink(candidate)
    if (target.startsWith('/')) resolved.length = 0
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'))
  }
  return posix.join(root, ...resolved)
}
