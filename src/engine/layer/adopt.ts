// A build step's finished upper directory turned into its layer in place, so the layer store can
// take it by rename instead of unpacking the step's tar into a second copy of every file.
//
// The tar (diff.ts stepLayer, read once: its digest is the diffID and it is stored as the blob) is
// the truth; prepareUpper makes the directory say exactly what the layer store's unpack of that
// tar would have written (writer.ts), so a later step, a container or a `docker save` cannot tell
// the two apart:
//   - whiteouts and opaque directories are already what unpack writes: overlay leaves a deleted
//     entry as a character device 0/0 (owned by root, mode 0) and an opaque directory with
//     trusted.overlay.opaque=y; only a whiteout some step made by hand is given root and mode 0;
//   - overlay's own bookkeeping (trusted.overlay.origin, impure, uuid, ...) is removed: the tar
//     leaves it out, and an origin pointing into another layer means nothing in a lower one;
//     redirect and metacopy never occur (the build mounts turn them off, executor.ts);
//   - times are the tar's: modification times clamped to the epoch, whole seconds, access time
//     the same (unpack sets both from the header), directories after their children;
//   - directories the tar leaves out (unchanged, holding nothing kept) are removed; sockets,
//     which a tar cannot hold, too;
//   - a file that shares its inode with something outside the layer (COPY hard-links context
//     files into the step, copy-step.ts) is copied first, so setting its times cannot touch the
//     context and the context's prune cannot touch the layer; names of it inside the layer stay
//     linked to each other, as the tar's hardlink entries say.
// The root of the layer is root's, mode 0755, as unpack's fresh directory is.
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import {
  chmodSync,
  lchownSync,
  linkSync,
  lutimesSync,
  renameSync,
  rmdirSync,
  unlinkSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { lremovexattr } from '../sys/libc.ts'
import { llistxattr } from '../sys/fsat.ts'
import { copyFilePreserving } from '../fsutil.ts'
import type { StepEntry } from './diff.ts'

const S_IFMT = 0o170000n
const KEPT_TYPES = new Set([0o040000n, 0o100000n, 0o120000n, 0o020000n, 0o060000n, 0o010000n])
const OVERLAY_PREFIX = 'trusted.overlay.'
const OPAQUE_XATTR = 'trusted.overlay.opaque'
/** Entries handled between yields to the event loop (each costs a few system calls). */
const BATCH = 256

/**
 * Makes the upper directory `upper` of a finished step hold exactly the layer its tar says
 * (`entries`: every entry stepLayer walked, in walk order; `epoch`: the tar's clamp, seconds).
 * Call it only once the tar was read whole: it changes what the tar was read from. Returns the
 * layer's size as unpack counts it: the bytes of its regular files, each inode once.
 */
export async function prepareUpper(
  upper: string,
  entries: StepEntry[],
  epoch: number,
): Promise<number> {
  const kept = entries.filter((e) => e.own)
  const abs = (rel: string) => `${upper}${rel}`
  const epochMs = BigInt(epoch) * 1000n

  // The size, and the names of each inode with several (the tar's first name holds the data).
  let size = 0
  const names = new Map<bigint, StepEntry[]>()
  for (const e of kept) {
    const { st } = e.item
    if (e.whiteout || !st.isFile()) continue
    if (st.nlink > 1n) {
      const list = names.get(st.ino)
      if (list) {
        list.push(e)
        continue
      }
      names.set(st.ino, [e])
    }
    size += Number(st.size)
  }

  let n = 0
  const step = async () => {
    if (++n % BATCH === 0) await new Promise((r) => setImmediate(r))
  }

  // Inodes shared with the outside get a copy of their own.
  for (const list of names.values()) {
    const first = list[0]!
    if (BigInt(list.length) >= first.item.st.nlink) continue
    await detach(abs(first.item.rel), first)
    for (const other of list.slice(1)) {
      const tmp = tempName(abs(other.item.rel))
      linkSync(abs(first.item.rel), tmp)
      renameSync(tmp, abs(other.item.rel))
    }
    await step()
  }

  // What the tar leaves out: unchanged directories (deepest first; they hold only each other)
  // and sockets.
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!
    if (!e.own) rmdirSync(abs(e.item.rel))
    else if (!KEPT_TYPES.has(e.item.st.mode & S_IFMT)) unlinkSync(abs(e.item.rel))
    else continue
    await step()
  }

  // Owners, modes and xattrs where overlay's differ from unpack's; then times, children first.
  stripOverlayXattrs(upper, false)
  lchownSync(upper, 0, 0)
  chmodSync(upper, 0o755)
  for (let i = kept.length - 1; i >= 0; i--) {
    const e = kept[i]!
    const { st, rel } = e.item
    const p = abs(rel)
    if (!KEPT_TYPES.has(st.mode & S_IFMT)) continue
    if (e.whiteout) {
      for (const x of llistxattr(p)) lremovexattr(p, x)
      if (st.uid !== 0n || st.gid !== 0n) lchownSync(p, 0, 0)
      if ((st.mode & 0o7777n) !== 0n) chmodSync(p, 0)
      await step()
      continue
    }
    stripOverlayXattrs(p, e.opaque, e.xattrs)
    const ms = st.mtimeMs <= epochMs ? st.mtimeMs : epochMs
    const t = Number(ms / 1000n)
    lutimesSync(p, t, t)
    await step()
  }
  return size
}

/**
 * Removes overlay's xattrs from a path, but for the opaque mark of a directory the tar marks.
 * `listed`: its xattr names as the tar's read listed them. Nothing adds an xattr after that read,
 * so a listing without overlay's is still true; one with them is taken again (another name of the
 * same inode, or its detached copy, may have lost them since).
 */
function stripOverlayXattrs(p: string, opaque: boolean, listed?: string[]): void {
  const strip = (x: string) => x.startsWith(OVERLAY_PREFIX) && !(opaque && x === OPAQUE_XATTR)
  if (listed && !listed.some(strip)) return
  for (const x of llistxattr(p)) if (strip(x)) lremovexattr(p, x)
}

/** Replaces a file by a copy of its own: content, owner, mode and xattrs (times come later). */
async function detach(p: string, e: StepEntry): Promise<void> {
  const { st } = e.item
  const tmp = tempName(p)
  try {
    // A clone where the filesystem can (no data copied), a plain copy elsewhere.
    await copyFilePreserving(
      p,
      tmp,
      { size: Number(st.size), uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode) },
      constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE,
    )
    renameSync(tmp, p)
  } catch (err) {
    try {
      unlinkSync(tmp)
    } catch {
      // never made, or already renamed
    }
    throw err
  }
}

/** Names for copies being made, unique to this process (each is renamed at once). */
const TEMP_PREFIX = `.adopt-${randomBytes(6).toString('hex')}-`
let temps = 0

function tempName(p: string): string {
  return join(dirname(p), `${TEMP_PREFIX}${temps++}`)
}
