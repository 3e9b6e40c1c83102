// COPY and ADD into a mounted root, with BuildKit's semantics (fsutil's copy with "copy directory
// contents" and "follow symlinks"): a directory source gives its contents; a file goes into an
// existing directory or becomes the destination; missing parents are made; owners are kept unless
// --chown names new ones; --chmod sets the mode of what is copied and of the directories made for
// it; ADD unpacks local tar archives (plain, gzip, zstd, xz, bzip2). The destination is resolved
// inside the root, so the image's symlinks are followed but never out of it.
import { spawn } from 'node:child_process'
import { constants, createReadStream, lstatSync, type Stats } from 'node:fs'
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
} from 'node:fs/promises'
import { posix } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { decompress, detectCompression } from '../compression.ts'
import { InvalidArgument, errnoCode } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import type { PatternMatcher } from '../../lib/dockerignore.ts'

export interface Owner {
  uid: number
  gid: number
}

/** A file-mode change: an octal mode, or a symbolic one (`u+x,go-w`). */
export type ModeChange = { octal: number } | { symbolic: string }

export interface CopyOptions {
  /** Host path of the mounted root to copy into. */
  destRoot: string
  /** The destination inside it, absolute; a trailing slash makes it a directory. */
  dest: string
  /** Host path of the tree the sources are in. */
  srcRoot: string
  /** Sources: the name as matched (its base names the copy) and the path with links followed. */
  srcs: { name: string; followed: string }[]
  /** Left-out paths (.dockerignore), relative to srcRoot. */
  ignored?: (rel: string) => boolean
  /** --exclude patterns, relative to each source. */
  exclude?: PatternMatcher
  /** The owner of what is copied; absent keeps each file's owner. */
  chown?: Owner
  /** --chown as given: unpacked archives keep their owners without it. */
  archiveOwner?: Owner
  chmod?: ModeChange
  /** ADD: local tar archives are unpacked. */
  unpack: boolean
  /**
   * Regular files may be hard-linked from srcRoot instead of copied, when the copy would carry
   * the source's own owner and mode: only for a tree whose files are replaced, never written in
   * place (the build context). The links are planned here and made by `placeLinks`.
   */
  links?: LinkPlan
  /**
   * Set to true when a source has what a context's digest does not show but the copy keeps:
   * another name (a hard link) or a time before 1970 (epoch 0 clamps every other).
   */
  unkeyed?: { seen: boolean }
}

/**
 * Files a COPY hard-links from the build context instead of copying them (their bytes are not
 * read or written again). A link cannot cross the overlay mount the copy works through, so each
 * planned file is made later, straight in the step's upper directory, once the mount is gone.
 * The inode is shared with the context only until the step's layer is committed (the layer
 * store unpacks its own copy) and the step released; the context never writes a file in place
 * (a new version is a new file), and nothing writes through the link: the owner, mode and times
 * it must carry are already the source's.
 */
export class LinkPlan {
  /** Path in the root (relative, no leading slash) → host path of the source file. */
  readonly files = new Map<string, string>()
  /** The source's lstat as the copy took it, by the same key (a copy need not take it again). */
  readonly stats = new Map<string, Stats>()
  /** Directories (relative) that receive planned files, made present in the upper directory. */
  readonly dirs = new Set<string>()
  /** Source inodes already planned, so a file reached twice is copied the second time. */
  readonly inodes = new Set<string>()

  /** Whether a planned file lies directly or deeper below `dir` (relative). */
  below(dir: string): boolean {
    const prefix = dir === '' ? '' : `${dir}/`
    for (const k of this.files.keys()) if (k.startsWith(prefix)) return true
    return false
  }
}

/** How many links are made at once: each is a short call, and the thread pool takes several. */
const LINK_CONCURRENCY = 16

/**
 * Makes a plan's links in the step's upper directory (the overlay no longer mounted): each file
 * a hard link to its source, over a whiteout the copy left when it replaced a file of a lower
 * layer; then the directories get back the times the copy gave them. Where a link is refused
 * (another filesystem, too many links), the file is copied with the source's metadata instead.
 */
export async function placeLinks(plan: LinkPlan, upper: string): Promise<void> {
  if (plan.files.size === 0) return
  const times = new Map<string, { atime: Date; mtime: Date }>()
  for (const d of plan.dirs) {
    const st = await lstat(posix.join(upper, d))
    if (!st.isDirectory()) throw new InvalidArgument(`copy: /${d} is not a directory`)
    times.set(d, { atime: st.atime, mtime: st.mtime })
  }
  const todo = [...plan.files]
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const [rel, src] = todo[next++]!
      await placeOne(posix.join(upper, rel), src)
    }
  }
  await Promise.all(Array.from({ length: Math.min(LINK_CONCURRENCY, todo.length) }, worker))
  for (const [d, t] of times) await lutimes(posix.join(upper, d), t.atime, t.mtime)
}

async function placeOne(dst: string, src: string): Promise<void> {
  try {
    await link(src, dst)
    return
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'EEXIST') {
      const st = await lstat(dst)
      // Only the whiteout of a lower layer's file the copy replaced can be in the way.
      if (!st.isCharacterDevice() || st.rdev !== 0) throw err
      await rm(dst)
      return placeOne(dst, src)
    }
    if (code !== 'EXDEV' && code !== 'EMLINK' && code !== 'EPERM') throw err
  }
  const st = await lstat(src)
  await copyFile(src, dst, constants.COPYFILE_EXCL)
  await lchown(dst, st.uid, st.gid)
  await chmod(dst, st.mode & 0o7777)
  await lutimes(dst, st.atime, st.mtime)
}

const DEFAULT_DIR_MODE = 0o755

/** Applies a symbolic mode (chmod(1) syntax, as dchapes/mode reads it with umask 0). */
export function applySymbolicMode(spec: string, mode: number, isDir: boolean): number {
  let m = mode & 0o7777
  for (const clause of spec.split(',')) {
    const c = /^([ugoa]*)([-+=])([rwxXst]*|[ugo])$/.exec(clause)
    if (!c) throw new InvalidArgument(`invalid chmod parameter: '${spec}'`)
    const who = c[1] === '' || c[1]!.includes('a') ? 'ugo' : c[1]!
    let bits = 0
    const perm = c[3]!
    if (perm === 'u' || perm === 'g' || perm === 'o') {
      const shift = perm === 'u' ? 6 : perm === 'g' ? 3 : 0
      const v = (m >> shift) & 7
      bits = (v << 6) | (v << 3) | v
    } else {
      for (const p of perm) {
        if (p === 'r') bits |= 0o444
        else if (p === 'w') bits |= 0o222
        else if (p === 'x') bits |= 0o111
        else if (p === 'X') {
          if (isDir || (m & 0o111) !== 0) bits |= 0o111
        } else if (p === 's') bits |= 0o6000
        else if (p === 't') bits |= 0o1000
      }
    }
    let mask = 0
    if (who.includes('u')) mask |= 0o4700
    if (who.includes('g')) mask |= 0o2070
    if (who.includes('o')) mask |= 0o1007
    bits &= mask
    if (c[2] === '+') m |= bits
    else if (c[2] === '-') m &= ~bits
    else m = (m & ~mask) | bits
  }
  return m
}

/** Parses --chmod: octal up to 07777, or symbolic (BuildKit's words for a bad one). */
export function parseChmod(value: string): ModeChange {
  if (/^[0-9]+$/.test(value)) {
    const n = /^[0-7]+$/.test(value) ? Number.parseInt(value, 8) : Number.NaN
    if (Number.isNaN(n) || n > 0o7777) {
      throw new InvalidArgument(
        `invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`,
      )
    }
    return { octal: n }
  }
  applySymbolicMode(value, 0, false)
  return { symbolic: value }
}

function newMode(change: ModeChange | undefined, mode: number, isDir: boolean): number {
  if (!change) return mode & 0o7777
  if ('octal' in change) return change.octal & 0o7777
  return applySymbolicMode(change.symbolic, mode, isDir)
}

/** MkdirAll inside a root: each missing directory gets `mode` and `owner`; returns nothing. */
async function mkdirAllIn(
  root: string,
  rel: string,
  mode: number,
  owner: Owner | undefined,
  links?: LinkPlan,
): Promise<void> {
  const parts = rel.split('/').filter((p) => p !== '')
  let cur = '/'
  for (const part of parts) {
    const next = posix.join(cur, part)
    const host = await resolveInRoot(root, next)
    if (links?.files.has(posix.relative(root, host))) {
      throw new InvalidArgument(`mkdir ${next}: not a directory`)
    }
    let st
    try {
      st = await stat(host)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    }
    if (st && !st.isDirectory()) {
      throw new InvalidArgument(`mkdir ${next}: not a directory`)
    }
    if (!st) {
      await mkdir(host, { mode })
      await chmod(host, mode)
      if (owner) await lchown(host, owner.uid, owner.gid)
    }
    cur = posix.relative(root, host) === '' ? '/' : `/${posix.relative(root, host)}`
  }
}

interface Copier {
  opts: CopyOptions
  /** Source inode → destination path already copied, to keep hard links. */
  inodes: Map<string, string>
}

async function copyMeta(c: Copier, dst: string, st: Stats): Promise<void> {
  const owner = c.opts.chown ?? { uid: Number(st.uid), gid: Number(st.gid) }
  await lchown(dst, owner.uid, owner.gid)
  if (!st.isSymbolicLink())
    await chmod(dst, newMode(c.opts.chmod, Number(st.mode), st.isDirectory()))
  await lutimes(dst, st.atime, st.mtime)
}

/**
 * posix.join(dir, name) for a normalized `dir` and a name from readdir (no slash, never . or ..),
 * without join's normalize, which walks the whole path again each time (megabytes of strings a
 * copy of 2000 files under a long data-root path).
 */
export function childPath(dir: string, name: string): string {
  if (dir === '') return name
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`
}

/** lstat of many paths, several at a time (a directory's entries: thousands of small calls). */
async function lstatAll(paths: string[]): Promise<Stats[]> {
  // Synchronous calls, a batch between turns of the event loop: each is a few microseconds, and
  // through the thread pool each cost more in hand-offs (futex calls and wake-ups) than the call.
  const out: Stats[] = new Array<Stats>(paths.length)
  for (let i = 0; i < paths.length; i++) {
    if (i > 0 && i % LSTAT_BATCH === 0) await new Promise((r) => setImmediate(r))
    out[i] = lstatSync(paths[i]!)
  }
  return out
}

/** lstat calls made between turns of the event loop. */
const LSTAT_BATCH = 256

async function copyTree(
  c: Copier,
  src: string,
  rel: string,
  target: string,
  overwriteMeta: boolean,
  inRootTarget: string,
  /**
   * The source's lstat when already taken; `fresh`: the target's directory was just made here;
   * `srcRel`, `targetRel`: src and target relative to their roots, as the parent knew them.
   */
  known: { st?: Stats; fresh?: boolean; srcRel?: string; targetRel?: string } = {},
): Promise<void> {
  const srcRelToRoot = known.srcRel ?? posix.relative(c.opts.srcRoot, src)
  const st = known.st ?? (await lstat(src))
  // A left-out directory can still hold kept paths; a left-out file is skipped.
  if (rel !== '' && !st.isDirectory() && c.opts.ignored?.(srcRelToRoot)) return
  const excluded = rel !== '' && c.opts.exclude?.matches(rel) === true
  if (excluded && !st.isDirectory()) return
  if (c.opts.unkeyed && ((st.isFile() && st.nlink > 1) || st.mtimeMs < 0)) {
    c.opts.unkeyed.seen = true
  }
  const links = c.opts.links
  const targetRel = known.targetRel ?? posix.relative(c.opts.destRoot, target)
  if (links?.files.has(targetRel)) {
    // A file planned for a link is not in the mounted view yet: it is what is there.
    if (st.isDirectory()) throw new InvalidArgument(`cannot copy to non-directory: ${inRootTarget}`)
    links.files.delete(targetRel)
    links.stats.delete(targetRel)
  }
  // Nothing is below a directory this copy just made but what it puts there, one name each.
  const tst = known.fresh
    ? undefined
    : await lstat(target).catch((err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return undefined
        throw err
      })
  if (st.isDirectory()) {
    let created = false
    if (!tst) {
      await mkdir(target, { mode: 0o700 })
      created = true
    } else if (!tst.isDirectory()) {
      throw new InvalidArgument(`cannot copy to non-directory: ${inRootTarget}`)
    }
    const names = (await readdir(src)).sort()
    const stats = await lstatAll(names.map((n) => childPath(src, n)))
    for (const [i, name] of names.entries()) {
      await copyTree(
        c,
        childPath(src, name),
        rel === '' ? name : `${rel}/${name}`,
        childPath(target, name),
        true,
        childPath(inRootTarget, name),
        {
          st: stats[i]!,
          fresh: created,
          // Names from readdir: the children's relative paths without posix.relative's work.
          srcRel: srcRelToRoot === '' ? name : `${srcRelToRoot}/${name}`,
          targetRel: targetRel === '' ? name : `${targetRel}/${name}`,
        },
      )
    }
    const ignoredDir = rel !== '' && c.opts.ignored?.(srcRelToRoot)
    if (
      created &&
      (excluded || ignoredDir) &&
      (await readdir(target)).length === 0 &&
      !links?.below(targetRel)
    ) {
      // Walked only to look for kept paths, and none was there.
      await rm(target, { recursive: true })
      return
    }
    if (created || overwriteMeta) await copyMeta(c, target, st)
    return
  }
  if (tst) {
    if (tst.isDirectory()) {
      throw new InvalidArgument(`cannot overwrite directory ${inRootTarget} with non-directory`)
    }
    await rm(target)
  }
  if (st.isFile()) {
    const key = `${st.dev}:${st.ino}`
    if (links && (await planLink(c, links, st, key, src, target, targetRel))) return
    const first = st.nlink > 1 ? c.inodes.get(key) : undefined
    if (first !== undefined) {
      await link(first, target)
    } else {
      await copyFile(src, target, constants.COPYFILE_EXCL)
      if (st.nlink > 1) c.inodes.set(key, target)
    }
  } else if (st.isSymbolicLink()) {
    await symlink(await readlink(src), target)
  } else {
    // Devices, fifos and sockets have no place in a COPY; BuildKit copies devices, berth skips them.
    return
  }
  await copyMeta(c, target, st)
}

/**
 * Plans a hard link for a file that would be copied with its own owner and mode (none of its
 * metadata changes, so nothing is ever written through the link). A file reached a second time
 * is linked again only when it has other names in the source tree (kept hard links, as the copy
 * keeps them); else it is copied, as it would be without links.
 */
async function planLink(
  c: Copier,
  links: LinkPlan,
  st: Stats,
  key: string,
  src: string,
  target: string,
  targetRel: string,
): Promise<boolean> {
  const owner = c.opts.chown ?? { uid: Number(st.uid), gid: Number(st.gid) }
  if (owner.uid !== Number(st.uid) || owner.gid !== Number(st.gid)) return false
  if (newMode(c.opts.chmod, Number(st.mode), false) !== (Number(st.mode) & 0o7777)) return false
  if (links.inodes.has(key) && st.nlink <= 1) return false
  const dir = posix.dirname(targetRel)
  if (!links.dirs.has(dir)) {
    // The directory must be in the upper directory when the mount is gone: a change of its
    // times copies it up, as adding the file through the mount would (and dates it now).
    const parent = posix.dirname(target)
    const pst = await lstat(parent)
    await lutimes(parent, pst.atime, new Date())
    links.dirs.add(dir)
  }
  links.inodes.add(key)
  links.files.set(targetRel, src)
  links.stats.set(targetRel, st)
  return true
}

/** Whether a file is a tar archive, compressed or not (its first header must read). */
async function archiveCompression(
  path: string,
): Promise<'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2' | undefined> {
  const fh = await open(path, 'r')
  let head: Buffer
  try {
    head = Buffer.alloc(512)
    const { bytesRead } = await fh.read(head, 0, 512, 0)
    head = head.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
  let kind: 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2' = detectCompression(head)
  if (
    head.length >= 6 &&
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))
  )
    kind = 'xz'
  else if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') kind = 'bzip2'
  // Read the first (decompressed) header block and check it is a tar header.
  let block = Buffer.alloc(0)
  try {
    for await (const chunk of decompressed(path, kind)) {
      block = Buffer.concat([block, chunk])
      if (block.length >= 512) break
    }
  } catch {
    return undefined
  }
  if (block.length < 512) return undefined
  return isTarHeader(block.subarray(0, 512)) ? kind : undefined
}

function isTarHeader(b: Buffer): boolean {
  const stored = Number.parseInt(b.toString('latin1', 148, 156).replace(/\0.*$/, '').trim(), 8)
  if (Number.isNaN(stored)) return false
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!
  return sum === stored
}

function decompressed(
  path: string,
  kind: 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2',
): AsyncIterable<Buffer> {
  if (kind === 'xz' || kind === 'bzip2') {
    const child = spawn(kind === 'xz' ? 'xz' : 'bzip2', ['-dc', path], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    child.on('error', () =>
      child.stdout.destroy(
        new InvalidArgument(`unpacking a ${kind} archive needs the ${kind} program`),
      ),
    )
    return child.stdout as AsyncIterable<Buffer>
  }
  return decompress(createReadStream(path))
}

type TarEntry = tar.Extract extends AsyncIterable<infer T> ? T : never

/** Unpacks an archive into a directory of the root (moby's Untar: owners kept, or --chown's). */
async function unpackInto(
  archive: string,
  kind: Parameters<typeof decompressed>[1],
  root: string,
  destDir: string,
  owner: Owner | undefined,
): Promise<void> {
  const extract = tar.extract()
  const feeding = pipeline(Readable.from(decompressed(archive, kind)), extract)
  const dirTimes: { host: string; mtime: Date }[] = []
  const consuming = (async () => {
    for await (const entry of extract as AsyncIterable<TarEntry>) {
      try {
        const h = entry.header
        const name = posix.normalize(`/${h.name}`).replace(/\/$/, '')
        if (name === '/' || name.startsWith('/..')) continue
        const rel = posix.join(destDir, name)
        await mkdirAllIn(root, posix.dirname(rel), DEFAULT_DIR_MODE, undefined)
        const parent = await resolveInRoot(root, posix.dirname(rel))
        const host = posix.join(parent, posix.basename(rel))
        const uid = owner?.uid ?? h.uid ?? 0
        const gid = owner?.gid ?? h.gid ?? 0
        const mode = (h.mode ?? 0o644) & 0o7777
        const old = await lstat(host).catch(() => undefined)
        if (old && !(old.isDirectory() && h.type === 'directory'))
          await rm(host, { recursive: true, force: true })
        switch (h.type) {
          case 'directory':
            if (!old?.isDirectory()) await mkdir(host, { mode: 0o700 })
            await lchown(host, uid, gid)
            await chmod(host, mode)
            dirTimes.push({ host, mtime: h.mtime ?? new Date(0) })
            continue
          case 'file':
          case 'contiguous-file': {
            const fh = await open(host, 'wx', 0o600)
            try {
              for await (const chunk of entry) await fh.write(chunk as Buffer)
            } finally {
              await fh.close()
            }
            break
          }
          case 'symlink':
            await symlink(h.linkname ?? '', host)
            break
          case 'link': {
            const target = await resolveInRoot(
              root,
              posix.join(destDir, posix.normalize(`/${h.linkname ?? ''}`)),
            )
            await link(target, host)
            continue
          }
          default:
            continue
        }
        await lchown(host, uid, gid)
        if (h.type !== 'symlink') await chmod(host, mode)
        await lutimes(host, h.mtime ?? new Date(0), h.mtime ?? new Date(0))
      } finally {
        entry.resume()
      }
    }
  })()
  const [fed, consumed] = await Promise.allSettled([feeding, consuming])
  if (consumed.status === 'rejected') throw consumed.reason
  if (fed.status === 'rejected') throw fed.reason
  for (const d of dirTimes.reverse()) await lutimes(d.host, d.mtime, d.mtime)
}

/** Copies the sources into the root (one COPY or ADD instruction's local sources). */
export async function copyInto(opts: CopyOptions): Promise<void> {
  const owner = opts.chown
  const dirMode = opts.chmod && 'octal' in opts.chmod ? opts.chmod.octal : DEFAULT_DIR_MODE
  // The destination's parent (or the destination itself, when it ends in a slash) must exist.
  const trailing = opts.dest.endsWith('/')
  const cleanDest = posix.normalize(opts.dest).replace(/(.)\/$/, '$1')
  await mkdirAllIn(
    opts.destRoot,
    trailing ? cleanDest : posix.dirname(cleanDest),
    dirMode,
    owner,
    opts.links,
  )
  const c: Copier = { opts, inodes: new Map() }
  for (const s of opts.srcs) {
    const src = posix.join(opts.srcRoot, s.followed)
    const sst = await lstat(src)
    if (opts.unpack && sst.isFile()) {
      const kind = await archiveCompression(src)
      if (kind !== undefined) {
        await mkdirAllIn(opts.destRoot, cleanDest, DEFAULT_DIR_MODE, opts.archiveOwner)
        await unpackInto(src, kind, opts.destRoot, cleanDest, opts.archiveOwner)
        continue
      }
    }
    let destPath = await resolveInRoot(opts.destRoot, cleanDest)
    let inRoot = cleanDest
    const planned = opts.links?.files.has(posix.relative(opts.destRoot, destPath)) === true
    const dst = planned ? undefined : await stat(destPath).catch(() => undefined)
    if (!sst.isDirectory() && dst?.isDirectory()) {
      destPath = posix.join(destPath, posix.basename(s.name))
      inRoot = posix.join(inRoot, posix.basename(s.name))
    }
    const rootRel = posix.relative(opts.destRoot, destPath)
    if (sst.isDirectory() && !dst) {
      await mkdirAllIn(opts.destRoot, `/${rootRel}`, dirMode, owner, opts.links)
    } else {
      await mkdirAllIn(opts.destRoot, posix.dirname(`/${rootRel}`), dirMode, owner, opts.links)
    }
    await copyTree(c, src, '', destPath, false, inRoot)
  }
}
