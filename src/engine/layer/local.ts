// Layers unpacked into plain directories for overlayfs, keyed by diffID so one copy serves every
// image that has the layer. Layout under `dir` (<dataRoot>/layers):
//
//   sha256/<hex>/diff/       the unpacked layer (overlay whiteouts and opaque dirs included)
//   sha256/<hex>/meta.json   {"diffID","size"}
//   sha256/<hex>/link        the layer's short name
//   l/<short> -> ../sha256/<hex>/diff
//                            short names keep overlay's lowerdir under the one page mount(2) takes
//   rw/<id>/upper/, work/    a container's read-write layer and overlay's work dir
//   rw/<id>/meta.json        {"parents": [diffID, ...]} bottom first
//   rw/<id>/empty/           the lower dir of a container whose image has no layers
//   tmp/<random>/            layers and read-write layers being made or deleted
//                            (tmp/ is marked as the top of a hierarchy for ext4: see spreadDirs)
//
// Everything is built under tmp/ and renamed into place whole, so a crash leaves either nothing
// or a complete layer; init() clears tmp/ and repairs l/.
import { randomBytes } from 'node:crypto'
import {
  lstat,
  open,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { hex, isDigest, parseDigest, type Digest } from '../digest.ts'
import { Conflict, InvalidArgument, NotFound, errnoCode } from '../errors.ts'
import { fsyncDir, readJson, spreadNewDirectories } from '../fsutil.ts'
import { readMountInfo } from '../sys/mountinfo.ts'
import { unmount } from './mount.ts'
import type { LayerInfo, LayerStore, Mount, RWUsage } from './types.ts'
import { upperUsage } from './usage.ts'
import { layerDigest, unpackLayer } from './unpack.ts'

interface RWMeta {
  parents: Digest[]
}

const RW_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
const SHORT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const SHORT_LEN = 10

export class LocalLayerStore implements LayerStore {
  constructor(readonly dir: string) {}

  /** Creates the directories, drops half-made or half-deleted layers and repairs short links. */
  async init(): Promise<void> {
    for (const d of ['', 'sha256', 'l', 'rw', 'tmp']) {
      await mkdir(`${this.dir}/${d}`, { recursive: true, mode: 0o700 })
    }
    // Every layer and read-write layer is made in tmp/: each a new tree of files.
    await spreadNewDirectories(`${this.dir}/tmp`)
    for (const name of await readdir(`${this.dir}/tmp`)) {
      await rm(`${this.dir}/tmp/${name}`, { recursive: true, force: true })
    }
    // Which short name belongs to which layer, from the layers themselves.
    const want = new Map<string, string>()
    for (const h of await readdir(`${this.dir}/sha256`)) {
      const d = `${this.dir}/sha256/${h}`
      const meta = await readJson<LayerInfo>(`${d}/meta.json`).catch(() => undefined)
      const short = (await readFile(`${d}/link`, 'utf8').catch(() => '')).trim()
      if (!/^[a-f0-9]{64}$/.test(h) || !meta || !/^[A-Z2-7]+$/.test(short)) {
        // Not something we made whole; it cannot be trusted.
        await this.discard(d)
        continue
      }
      want.set(short, linkTarget(h))
    }
    for (const short of await readdir(`${this.dir}/l`)) {
      const target = await readlink(`${this.dir}/l/${short}`).catch(() => undefined)
      if (target !== undefined && want.get(short) === target) {
        want.delete(short)
        continue
      }
      await rm(`${this.dir}/l/${short}`, { recursive: true, force: true })
    }
    for (const [short, target] of want) await symlink(target, `${this.dir}/l/${short}`)
  }

  async unpack(
    stream: Readable,
    opts: {
      expectedDiffID?: Digest
      signal?: AbortSignal
      allowDevices?: boolean
      uncompressed?: boolean
    } = {},
  ): Promise<LayerInfo> {
    const expected =
      opts.expectedDiffID === undefined ? undefined : parseDigest(opts.expectedDiffID)
    if (expected !== undefined && (await this.has(expected))) {
      const got = await layerDigest(stream, opts.signal, opts.uncompressed)
      if (got !== expected) throw mismatch(expected, got)
      return this.info(expected)
    }
    const tmp = await this.tempDir()
    try {
      await mkdir(`${tmp}/diff`, 0o755)
      const r = await unpackLayer(stream, `${tmp}/diff`, opts)
      if (expected !== undefined && r.diffID !== expected) throw mismatch(expected, r.diffID)
      if (await this.has(r.diffID)) return await this.info(r.diffID)
      return await this.publish(tmp, { diffID: r.diffID, size: r.size })
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }

  /**
   * Takes `dir`, a directory on this store's filesystem that already holds exactly the layer
   * `info` names (a build step's upper directory made so by adopt.ts prepareUpper), as that
   * layer's directory: renamed under tmp/, then made visible by the same rename unpack's layers
   * are, so a crash leaves it in tmp/ (cleared by init) or whole. When the layer exists already,
   * `dir` stays where it is, for its owner to remove.
   */
  async adopt(dir: string, info: LayerInfo): Promise<LayerInfo> {
    const diffID = parseDigest(info.diffID)
    if (await this.has(diffID)) return this.info(diffID)
    const tmp = await this.tempDir()
    try {
      await rename(dir, `${tmp}/diff`)
      return await this.publish(tmp, { diffID, size: info.size })
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }

  /**
   * Makes `tmp` (its diff/ complete) the layer `info` names: its short link and record, then the
   * one rename that makes it visible. When another copy of the same layer won, that one is as
   * good as this.
   */
  private async publish(tmp: string, info: LayerInfo): Promise<LayerInfo> {
    let short: string | undefined
    try {
      short = await this.newLink(hex(info.diffID))
      await writeSynced(`${tmp}/link`, short)
      await writeSynced(`${tmp}/meta.json`, JSON.stringify(info))
      try {
        await rename(tmp, this.layerDir(info.diffID))
      } catch (err) {
        const code = errnoCode(err)
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err
        return await this.info(info.diffID)
      }
      short = undefined
      await fsyncDir(`${this.dir}/sha256`)
      return info
    } finally {
      if (short !== undefined) await unlink(`${this.dir}/l/${short}`).catch(() => {})
    }
  }

  async has(diffID: Digest): Promise<boolean> {
    if (!isDigest(diffID)) return false
    try {
      await lstat(`${this.layerDir(diffID)}/meta.json`)
      return true
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false
      throw err
    }
  }

  async info(diffID: Digest): Promise<LayerInfo> {
    const meta = isDigest(diffID)
      ? await readJson<LayerInfo>(`${this.layerDir(diffID)}/meta.json`)
      : undefined
    if (!meta) throw new NotFound(`no such layer: ${diffID}`)
    return { diffID: meta.diffID, size: meta.size }
  }

  async list(): Promise<LayerInfo[]> {
    const out: LayerInfo[] = []
    for (const h of await readdir(`${this.dir}/sha256`)) {
      if (!/^[a-f0-9]{64}$/.test(h)) continue
      const meta = await readJson<LayerInfo>(`${this.dir}/sha256/${h}/meta.json`)
      if (meta) out.push({ diffID: meta.diffID, size: meta.size })
    }
    return out
  }

  async delete(diffID: Digest): Promise<void> {
    if (!(await this.has(diffID))) throw new NotFound(`no such layer: ${diffID}`)
    for (const id of await readdir(`${this.dir}/rw`)) {
      const meta = await readJson<RWMeta>(`${this.dir}/rw/${id}/meta.json`)
      if (meta?.parents.includes(diffID)) {
        throw new Conflict(`layer ${diffID} is in use by read-write layer ${id}`)
      }
    }
    const short = await this.shortName(diffID)
    const tmp = `${this.dir}/tmp/${randomBytes(8).toString('hex')}`
    try {
      await rename(this.layerDir(diffID), tmp)
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NotFound(`no such layer: ${diffID}`)
      throw err
    }
    await unlink(`${this.dir}/l/${short}`).catch(() => {})
    await rm(tmp, { recursive: true, force: true })
  }

  async createRW(
    id: string,
    parents: Digest[],
    { durable = true }: { durable?: boolean } = {},
  ): Promise<void> {
    checkRWId(id)
    for (const p of parents) {
      if (!(await this.has(p))) throw new NotFound(`no such layer: ${p}`)
    }
    const tmp = await this.tempDir()
    try {
      await mkdir(`${tmp}/upper`, 0o755)
      await mkdir(`${tmp}/work`, 0o700)
      if (parents.length === 0) await mkdir(`${tmp}/empty`, 0o755)
      const meta = JSON.stringify({ parents } satisfies RWMeta)
      if (durable) await writeSynced(`${tmp}/meta.json`, meta)
      else await writeFile(`${tmp}/meta.json`, meta, { flag: 'wx', mode: 0o644 })
      try {
        await rename(tmp, this.rwDir(id))
      } catch (err) {
        const code = errnoCode(err)
        if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          throw new Conflict(`read-write layer ${id} already exists`)
        }
        throw err
      }
      if (durable) await fsyncDir(`${this.dir}/rw`)
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }

  async rootfsMount(id: string, target: string): Promise<Mount> {
    const rw = this.rwDir(id)
    const meta = await this.rwMeta(id)
    const lowers: string[] = []
    for (const p of [...meta.parents].reverse()) {
      lowers.push(`${this.dir}/l/${await this.shortName(p)}`)
    }
    if (lowers.length === 0) lowers.push(`${rw}/empty`)
    return {
      type: 'overlay',
      source: 'overlay',
      destination: target,
      options: [`lowerdir=${lowers.join(':')}`, `upperdir=${rw}/upper`, `workdir=${rw}/work`],
    }
  }

  async rwSize(id: string): Promise<number> {
    await this.rwMeta(id)
    const seen = new Set<string>()
    let total = 0
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = `${d}/${e.name}`
        if (e.isDirectory()) await walk(p)
        else if (e.isFile()) {
          const st = await lstat(p, { bigint: true })
          const key = `${st.dev}:${st.ino}`
          if (seen.has(key)) continue
          seen.add(key)
          total += Number(st.size)
        }
      }
    }
    await walk(`${this.rwDir(id)}/upper`)
    return total
  }

  async rwUsage(id: string, skip: ReadonlySet<string>): Promise<RWUsage> {
    await this.rwMeta(id)
    return upperUsage(`${this.rwDir(id)}/upper`, skip)
  }

  /** Removes a read-write layer, detaching anything still mounted from it; absent is fine. */
  async removeRW(id: string): Promise<void> {
    checkRWId(id)
    const rw = this.rwDir(id)
    const upper = `upperdir=${rw}/upper`
    const mounted = (await readMountInfo())
      .filter(
        (m) =>
          m.mountPoint === rw ||
          m.mountPoint.startsWith(`${rw}/`) ||
          (m.fsType === 'overlay' && m.superOptions.split(',').includes(upper)),
      )
      .map((m) => m.mountPoint)
      .sort((a, b) => b.length - a.length)
    for (const mp of mounted) unmount(mp, { detach: true })
    const tmp = `${this.dir}/tmp/${randomBytes(8).toString('hex')}`
    try {
      await rename(rw, tmp)
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return
      throw err
    }
    await rm(tmp, { recursive: true, force: true })
  }

  async listRW(): Promise<string[]> {
    return (await readdir(`${this.dir}/rw`)).filter((id) => RW_ID_RE.test(id))
  }

  private layerDir(diffID: Digest): string {
    return `${this.dir}/sha256/${hex(diffID)}`
  }

  private rwDir(id: string): string {
    return `${this.dir}/rw/${id}`
  }

  private async rwMeta(id: string): Promise<RWMeta> {
    checkRWId(id)
    const meta = await readJson<RWMeta>(`${this.rwDir(id)}/meta.json`)
    if (!meta) throw new NotFound(`no such read-write layer: ${id}`)
    return meta
  }

  private async shortName(diffID: Digest): Promise<string> {
    try {
      return (await readFile(`${this.layerDir(diffID)}/link`, 'utf8')).trim()
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NotFound(`no such layer: ${diffID}`)
      throw err
    }
  }

  private async tempDir(): Promise<string> {
    const d = `${this.dir}/tmp/${randomBytes(8).toString('hex')}`
    await mkdir(d, 0o700)
    return d
  }

  /** Claims a fresh short name for a layer; symlink() failing on an existing name is the lock. */
  private async newLink(h: string): Promise<string> {
    for (;;) {
      const bytes = randomBytes(SHORT_LEN)
      let short = ''
      for (const b of bytes) short += SHORT_CHARS[b & 31]
      try {
        await symlink(linkTarget(h), `${this.dir}/l/${short}`)
        return short
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err
      }
    }
  }

  private async discard(d: string): Promise<void> {
    const tmp = `${this.dir}/tmp/${randomBytes(8).toString('hex')}`
    await rename(d, tmp)
    await rm(tmp, { recursive: true, force: true })
  }
}

/**
 * Marks `dir`, where every layer and read-write layer is made, as the top of a directory
 * hierarchy for ext4's Orlov allocator (chattr +T), so each one made in it lands in a block group
 * with few directories instead of in its parent's. Left beside each other, they all draw their
 * inodes from one group, and on an ext4 without a journal every new inode there is allocated
 * past each inode of that group freed in the last 30 seconds (ialloc.c recently_deleted: a
 * buffer lookup each): after a build or pull deleted a few thousand files there (a step whose
 * layer existed already, a removed image), making 2000 files cost 0.5 s of system time instead
 * of 45 ms. Only a placement hint: where the filesystem has no such flag, nothing changes.
 */
function linkTarget(h: string): string {
  return `../sha256/${h}/diff`
}

function checkRWId(id: string): void {
  if (!RW_ID_RE.test(id))
    throw new InvalidArgument(`invalid read-write layer id: ${JSON.stringify(id)}`)
}

function mismatch(expected: Digest, got: Digest): InvalidArgument {
  return new InvalidArgument(`invalid diffID for layer: expected ${expected}, got ${got}`)
}

/** Writes a new file in a directory that is still private (renamed into place later). */
async function writeSynced(path: string, data: string): Promise<void> {
  const fh = await open(path, 'wx', 0o644)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
}
