// A container's files in the fake container engine (fake.ts): each container's root filesystem
// is a tree in memory, made from a seed (a busybox-like root unless told) when first used. diff,
// export, the archive endpoints of docker cp and commit follow ContainerFiles' rules and words
// (pathstat.ts); commit goes through the image side's ImageCommit as the real one does.
// test/conformance/container-side.ts holds it to ContainerFiles' behaviour.
import { posix } from 'node:path'
import { Readable } from 'node:stream'
import tar from 'tar-stream'
import { InvalidArgument, isBerthError } from '../errors.ts'
import { containerAttributes } from '../events/types.ts'
import type { ImageCommit, ImageRunConfig } from '../image/types.ts'
import type { Change } from '../layer/types.ts'
import { cleanName } from '../tar/names.ts'
import { mergeImageConfig } from './config.ts'
import type { FakeContainers } from './fake.ts'
import { goBase, goFileMode, notFoundIn, rfc3339 } from './pathstat.ts'
import type {
  CommitOptions,
  ContainerConfig,
  ContainerFilesApi,
  LayerDirs,
  PathStat,
  PutArchiveOptions,
} from './types.ts'

export interface FakeNode {
  type: 'dir' | 'file' | 'symlink'
  /** Permission and set-id bits. */
  mode: number
  uid: number
  gid: number
  mtime: Date
  data?: Buffer
  target?: string
}

export type FakeTree = Map<string, FakeNode>

const EPOCH = new Date('2024-01-01T00:00:00Z')

/** A root filesystem with busybox's directories and user files. */
export function busyboxTree(): FakeTree {
  const t: FakeTree = new Map()
  const dir = (mode = 0o755): FakeNode => ({ type: 'dir', mode, uid: 0, gid: 0, mtime: EPOCH })
  for (const d of [
    '/',
    '/bin',
    '/dev',
    '/etc',
    '/home',
    '/proc',
    '/root',
    '/sys',
    '/usr',
    '/var',
  ]) {
    t.set(d, dir())
  }
  t.set('/root', dir(0o700))
  t.set('/tmp', dir(0o1777))
  const file = (text: string): FakeNode => ({
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: EPOCH,
    data: Buffer.from(text),
  })
  t.set('/etc/passwd', file('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n'))
  t.set('/etc/group', file('root:x:0:\nnobody:x:65534:\n'))
  return t
}

function clone(t: FakeTree): FakeTree {
  return new Map([...t].map(([p, n]) => [p, { ...n }]))
}

/** Walk order: depth first, names in byte order (as a directory walk lists them). */
function walkOrder(a: string, b: string): number {
  const x = a.split('/')
  const y = b.split('/')
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return Buffer.compare(Buffer.from(x[i] ?? ''), Buffer.from(y[i] ?? ''))
  }
  return x.length - y.length
}

function same(a: FakeNode, b: FakeNode): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.mtime.getTime() === b.mtime.getTime() &&
    a.target === b.target &&
    (a.data ?? Buffer.alloc(0)).equals(b.data ?? Buffer.alloc(0))
  )
}

function statOf(n: FakeNode) {
  const kind = (t: FakeNode['type']) => () => n.type === t
  const no = () => false
  return {
    mode: BigInt(n.mode),
    isDirectory: kind('dir'),
    isSymbolicLink: kind('symlink'),
    isFIFO: no,
    isSocket: no,
    isCharacterDevice: no,
    isBlockDevice: no,
  }
}

type Entry = tar.Extract extends AsyncIterable<infer T> ? T : never

export class FakeFiles implements ContainerFilesApi {
  private readonly trees = new Map<string, { base: FakeTree; now: FakeTree }>()

  constructor(
    private readonly containers: FakeContainers,
    private readonly commits: ImageCommit,
    private readonly seed: () => FakeTree = busyboxTree,
  ) {}

  private tree(id: string): { base: FakeTree; now: FakeTree } {
    let t = this.trees.get(id)
    if (!t) {
      const base = this.seed()
      t = { base, now: clone(base) }
      this.trees.set(id, t)
    }
    return t
  }

  /** Resolves a path in the tree as the kernel would inside the root; undefined when missing. */
  private resolve(t: FakeTree, path: string, followLast: boolean, depth = 0): string | undefined {
    if (depth > 40) return undefined
    let cur = '/'
    const comps = path.split('/').filter((c) => c !== '' && c !== '.')
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i] as string
      const next = c === '..' ? posix.dirname(cur) : posix.join(cur, c)
      const n = t.get(next)
      if (!n) return i === comps.length - 1 && !followLast ? next : undefined
      if (n.type === 'symlink' && (i < comps.length - 1 || followLast)) {
        const to = posix.isAbsolute(n.target ?? '')
          ? (n.target ?? '')
          : posix.join(cur, n.target ?? '')
        const r = this.resolve(t, to, true, depth + 1)
        if (r === undefined) return undefined
        cur = r
        continue
      }
      cur = next
    }
    return cur
  }

  /** Where the fake layer store (layer/fake.ts) says an overlay's directories are. */
  async layerDirs(ref: string): Promise<LayerDirs> {
    const c = this.containers.entry(ref).c
    const rw = `/memory/rw/${c.id}`
    return {
      lower: [`${rw}/empty`],
      upper: `${rw}/upper`,
      work: `${rw}/work`,
      merged: `${rw}/merged`,
    }
  }

  async changes(ref: string): Promise<Change[]> {
    const c = this.containers.entry(ref).c
    const { base, now } = this.tree(c.id)
    const out: Change[] = []
    const listed = new Set<string>()
    const paths = [...new Set([...base.keys(), ...now.keys()])].sort(walkOrder)
    for (const p of paths) {
      if (p === '/') continue
      const was = base.get(p)
      const is = now.get(p)
      // Only the top of a deleted tree is listed (one whiteout).
      if (!is && (!was || !now.has(posix.dirname(p)))) continue
      const kind = !was ? 1 : !is ? 2 : same(was, is) ? undefined : 0
      if (kind === undefined) continue
      const parent = posix.dirname(p)
      if (kind !== 0 && parent !== '/' && !listed.has(parent)) {
        out.push({ Path: parent, Kind: 0 })
        listed.add(parent)
      }
      if (!listed.has(p)) out.push({ Path: p, Kind: kind })
      listed.add(p)
    }
    return out
  }

  async exportRootfs(ref: string): Promise<Readable> {
    const c = this.containers.entry(ref).c
    const { now } = this.tree(c.id)
    return this.pack(
      [...now.keys()]
        .filter((p) => p !== '/')
        .sort(walkOrder)
        .map((p) => [p.slice(1), now.get(p) as FakeNode]),
    )
  }

  private pack(entries: [string, FakeNode][]): Readable {
    const pack = tar.pack()
    for (const [name, n] of entries) {
      const h = { name, mode: n.mode, uid: n.uid, gid: n.gid, mtime: n.mtime }
      if (n.type === 'dir') pack.entry({ ...h, type: 'directory' })
      else if (n.type === 'symlink') pack.entry({ ...h, type: 'symlink', linkname: n.target ?? '' })
      else pack.entry({ ...h, type: 'file' }, n.data ?? Buffer.alloc(0))
    }
    pack.finalize()
    return Readable.from(pack)
  }

  /** ContainerFiles.statIn: the last element is not followed unless the path ends in / or /. */
  private statIn(
    ref: string,
    id: string,
    path: string,
  ): { stat: PathStat; at: string; node: FakeNode } {
    const { now } = this.tree(id)
    let abs = posix.join('/', path)
    if (path.endsWith('/.')) abs = `${abs.replace(/\/$/, '')}/.`
    else if (path.endsWith('/') && abs !== '/') abs = `${abs}/`
    const follow = abs.endsWith('/') || abs.endsWith('/.')
    const at = this.resolve(now, abs, follow)
    const node = at === undefined ? undefined : now.get(at)
    if (at === undefined || !node) throw notFoundIn(path, ref)
    const linkTarget =
      node.type === 'symlink'
        ? (this.resolve(now, abs, true) ?? posix.join('/', node.target ?? ''))
        : ''
    const stat: PathStat = {
      name: goBase(abs),
      size:
        node.type === 'dir'
          ? 4096
          : node.type === 'symlink'
            ? (node.target ?? '').length
            : (node.data?.length ?? 0),
      mode: goFileMode(statOf(node)),
      mtime: rfc3339(BigInt(node.mtime.getTime()) * 1_000_000n),
      linkTarget,
    }
    return { stat, at, node }
  }

  async statPath(ref: string, path: string): Promise<PathStat> {
    const c = this.containers.entry(ref).c
    return this.statIn(ref, c.id, path).stat
  }

  async getArchive(ref: string, path: string): Promise<{ stat: PathStat; tar: Readable }> {
    const c = this.containers.entry(ref).c
    const { stat, at, node } = this.statIn(ref, c.id, path)
    const { now } = this.tree(c.id)
    const top = stat.name
    const entries: [string, FakeNode][] = [[top, node]]
    if (node.type === 'dir') {
      const prefix = at === '/' ? '/' : `${at}/`
      for (const p of [...now.keys()]
        .filter((p) => p.startsWith(prefix) && p !== at)
        .sort(walkOrder)) {
        entries.push([`${top}/${p.slice(prefix.length)}`, now.get(p) as FakeNode])
      }
    }
    return { stat, tar: this.pack(entries) }
  }

  async putArchive(
    ref: string,
    path: string,
    body: Readable,
    opts: PutArchiveOptions,
  ): Promise<void> {
    const c = this.containers.entry(ref).c
    if (c.hostConfig.ReadonlyRootfs)
      throw new InvalidArgument('container rootfs is marked read-only')
    const { now } = this.tree(c.id)
    const dest = this.resolve(now, posix.join('/', path), true)
    const d = dest === undefined ? undefined : now.get(dest)
    if (dest === undefined || !d) throw notFoundIn(path, ref)
    if (d.type !== 'dir') throw new InvalidArgument('extraction point is not a directory')
    const extract = tar.extract()
    const feeding = new Promise<void>((resolve, reject) => {
      body.once('error', reject)
      extract.once('error', reject)
      extract.once('finish', resolve)
      body.pipe(extract)
    })
    try {
      for await (const entry of extract as AsyncIterable<Entry>) {
        try {
          const data: Buffer[] = []
          for await (const chunk of entry as AsyncIterable<Buffer>) data.push(chunk)
          this.put(now, dest, entry.header, Buffer.concat(data), opts)
        } finally {
          entry.resume()
        }
      }
      await feeding
    } catch (err) {
      extract.destroy()
      if (isBerthError(err)) throw err
      throw new InvalidArgument(
        `Error processing tar file: ${err instanceof Error ? err.message : String(err)}`,
      )
    }
  }

  private put(
    t: FakeTree,
    dest: string,
    h: tar.Header,
    data: Buffer,
    opts: PutArchiveOptions,
  ): void {
    const comps = cleanName(h.name)
    if (comps.length === 0) return
    const rel = posix.join(dest, ...comps)
    let parent = dest
    for (const comp of comps.slice(0, -1)) {
      const next = this.resolve(t, posix.join(parent, comp), true) ?? posix.join(parent, comp)
      if (!t.has(next)) t.set(next, { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: new Date() })
      else if (t.get(next)?.type !== 'dir') {
        throw new InvalidArgument(`cannot make directory ${next}: not a directory`)
      }
      parent = next
    }
    const at = posix.join(parent, comps.at(-1) as string)
    const existing = t.get(at)
    const isDir = h.type === 'directory'
    if (existing && opts.noOverwriteDirNonDir) {
      if (existing.type === 'dir' && !isDir) {
        throw new InvalidArgument(
          `cannot overwrite directory "${rel}" with non-directory "${h.name}"`,
        )
      }
      if (existing.type !== 'dir' && isDir) {
        throw new InvalidArgument(
          `cannot overwrite non-directory "${rel}" with directory "${h.name}"`,
        )
      }
    }
    if (existing && !(existing.type === 'dir' && isDir)) {
      for (const p of [...t.keys()]) if (p === at || p.startsWith(`${at}/`)) t.delete(p)
    }
    const node: FakeNode = {
      type: 'file',
      mode: (h.mode ?? 0o644) & 0o7777,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      mtime: h.mtime ?? new Date(),
    }
    switch (h.type) {
      case 'directory':
        t.set(at, { ...node, type: 'dir' })
        break
      case 'file':
      case 'contiguous-file':
        t.set(at, { ...node, data })
        break
      case 'symlink':
        t.set(at, { ...node, type: 'symlink', mode: 0o777, target: h.linkname ?? '' })
        break
      case 'link': {
        const from = t.get(posix.join(dest, ...cleanName(h.linkname ?? '')))
        if (!from) throw new InvalidArgument(`invalid hardlink ${h.name} -> ${h.linkname ?? ''}`)
        t.set(at, { ...from })
        break
      }
      default:
        return
    }
    // Adding to a directory changes it, as the kernel's mtime says.
    const dir = t.get(parent)
    if (dir && !existing) dir.mtime = new Date()
  }

  async commit(ref: string, opts: CommitOptions): Promise<{ Id: string }> {
    const c = this.containers.entry(ref).c
    const changed = this.commits.applyChanges(
      (opts.config && Object.keys(opts.config).length > 0
        ? opts.config
        : c.config) as ImageRunConfig,
      opts.changes,
    )
    const config = mergeImageConfig(
      { ...(changed as ContainerConfig), Image: c.config.Image },
      c.config as ImageRunConfig,
    )
    const diff = await this.diffEntries(c.id)
    const image = await this.commits.commit({
      container: {
        id: c.id,
        image: c.image,
        config: c.config as ImageRunConfig,
        eventAttributes: containerAttributes(c),
      },
      config: config as ImageRunConfig,
      diff: async () => this.pack(diff),
      pause: opts.pause && c.state.Running && !c.state.Paused,
      ...(opts.repo ? { repo: opts.repo } : {}),
      ...(opts.tag ? { tag: opts.tag } : {}),
      ...(opts.author ? { author: opts.author } : {}),
      ...(opts.comment ? { comment: opts.comment } : {}),
    })
    return { Id: image.id }
  }

  /** The container's layer: what changed, with a whiteout for what went. */
  private async diffEntries(id: string): Promise<[string, FakeNode][]> {
    const { now } = this.tree(id)
    const out: [string, FakeNode][] = []
    for (const ch of await this.changes(id)) {
      const n = now.get(ch.Path)
      if (n) out.push([ch.Path.slice(1), n])
      else {
        const name = `${posix.dirname(ch.Path)}/.wh.${posix.basename(ch.Path)}`.replace(/^\/+/, '')
        out.push([name, { type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: EPOCH }])
      }
    }
    return out
  }
}
