// COPY and ADD steps: sources from the context, a stage, an image or a URL; --chown, --chmod, --link.
import { createHash } from 'node:crypto'
import { chmod, lstat, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { constants, lstatSync, lutimesSync, unlinkSync, type Stats } from 'node:fs'
import { InvalidArgument, errnoCode } from '../errors.ts'
import { copyFilePreserving, copySmallFileKeeping } from '../fsutil.ts'
import { resolveInRoot } from '../fsroot.ts'
import { hasWildcards } from './context.ts'
import { childPath, copyInto, LinkPlan, parseChmod, placeLinks, type Owner } from './copy.ts'
import { copyDestination, type StageState } from './dispatch.ts'
import { PatternMatcher } from '../../lib/dockerignore.ts'
import { parsed } from '../grammar.ts'
import { DockerfileError } from './errors.ts'
import type { CopyCommand } from './instructions.ts'
import type { PlannedCommand, Source } from './plan.ts'
import type { BuildExecutor, LayerRef, Snapshot } from './types.ts'
import type { WrittenFile } from '../layer/types.ts'
import { llistxattrIfAny } from '../sys/fsat.ts'
import type { Run, StepEnv } from './build-run.ts'
import { layerStep } from './layer-step.ts'

export async function copyStep(
  builder: StepEnv,
  run: Run,
  s: StageState,
  cmd: CopyCommand,
  pc: PlannedCommand,
): Promise<boolean> {
  const wd = s.config.config.WorkingDir ?? '/'
  const dest = copyDestination(wd, cmd.dest)
  const mode = cmd.chmod === '' ? undefined : parseChmod(cmd.chmod)
  if (cmd.checksum !== '') {
    if (cmd.srcs.length !== 1)
      throw new DockerfileError("checksum can't be specified for multiple sources")
    if (!/^https?:\/\//.test(cmd.srcs[0]!))
      throw new DockerfileError('checksum requires HTTP(S) or Git sources')
  }
  const exclude =
    cmd.excludes.length > 0 ? parsed(() => new PatternMatcher(cmd.excludes)) : undefined
  const add = cmd.kind === 'add'
  const words = [
    cmd.kind.toUpperCase(),
    ...(cmd.chown ? [`--chown=${cmd.chown}`] : []),
    ...(cmd.chmod ? [`--chmod=${cmd.chmod}`] : []),
  ]
  const description = [
    ...words,
    ...cmd.srcs,
    ...cmd.contents.map((c) => `<<${c.path}`),
    cmd.dest,
  ].join(' ')

  // Where the sources come from, and what identifies them for the cache.
  type Prepared = {
    /** Where these sources go when not the instruction's destination (--parents). */
    dest?: string
    /** Whether archives among them are unpacked (ADD). */
    unpack: boolean
    root: string
    srcs: { name: string; followed: string }[]
    ignored?: (r: string) => boolean
    release?: () => Promise<void>
  }
  const prepared: Prepared[] = []
  const identity: unknown[] = []
  const urls = add ? cmd.srcs.filter((x) => /^https?:\/\//.test(x)) : []
  const locals = cmd.srcs.filter((x) => !urls.includes(x))
  if (add && locals.some((x) => /^git@|\.git(#|$)/.test(x))) {
    throw new DockerfileError('ADD of a git repository is not supported by berth')
  }
  const source: Source | undefined = pc.from
  let fromLayers: LayerRef[] | undefined
  try {
    if (source === undefined) {
      const srcs: { name: string; followed: string }[] = []
      for (const src of locals) {
        // --parents keeps each source's path below the context (or below a /./ in it).
        const pivot =
          cmd.parents && src.includes('/./')
            ? posix.normalize(src.slice(0, src.indexOf('/./'))).replace(/^\/+/, '')
            : ''
        const matched = run.ctx.sources(src)
        for (const followed of matched) {
          const name = hasWildcards(src) ? followed : posix.normalize(`/${src}`).slice(1)
          identity.push([src, followed, run.ctx.digest(followed, exclude)])
          if (!cmd.parents) {
            srcs.push({ name, followed })
            continue
          }
          const keep = pivot === '' ? name : posix.relative(pivot, name)
          const isDir = run.ctx.entry(followed)?.type === 'dir'
          const sub = isDir ? keep : posix.dirname(keep)
          prepared.push({
            dest: `${posix.join(dest, sub === '.' ? '' : sub)}/`,
            unpack: false,
            root: run.ctx.root,
            srcs: [{ name, followed }],
            ignored: (r) => run.ctx.ignored(r),
          })
        }
      }
      if (srcs.length > 0) {
        // ADD unpacks local archives unless --unpack=false.
        const unpack = add && cmd.unpack !== false
        prepared.push({ root: run.ctx.root, srcs, unpack, ignored: (r) => run.ctx.ignored(r) })
      }
    } else {
      const layers =
        source.kind === 'stage'
          ? (await run.stages.get(source.index)!.done).layers
          : run.images.get(source.ref)!.layers
      identity.push(
        layers.map((l) => l.diffID),
        locals,
      )
      // The key needs only the source's layers: its files are looked at only when the step runs.
      if (locals.length > 0) fromLayers = layers
    }
    // Heredoc files and downloads are files of their own, each made in a directory of the step.
    for (const c of cmd.contents) {
      const dir = await mkdtemp(join(run.tmp, 'inline-'))
      const name = posix.basename(posix.normalize(`/${c.path}`))
      await writeFile(join(dir, name), c.data, { mode: 0o644 })
      await chmod(join(dir, name), 0o644)
      identity.push(['inline', name, createHash('sha256').update(c.data).digest('hex')])
      prepared.push({
        root: dir,
        srcs: [{ name, followed: name }],
        unpack: false,
        release: () => rm(dir, { recursive: true, force: true }),
      })
    }
    for (const url of urls) {
      const dir = await mkdtemp(join(run.tmp, 'download-'))
      const release = () => rm(dir, { recursive: true, force: true })
      try {
        const { name, sha256 } = await download(url, dir, cmd.checksum, run.signal)
        identity.push(['url', url, name, sha256, cmd.unpack === true])
        prepared.push({
          root: dir,
          srcs: [{ name, followed: name }],
          unpack: cmd.unpack === true,
          release,
        })
      } catch (err) {
        await release()
        throw err
      }
    }
    const numericChown = cmd.chown === '' || /^\d+(:\d+)?$/.test(cmd.chown)
    const key = {
      op: cmd.kind,
      parent: cmd.link && cmd.chmod === '' && numericChown ? null : s.layers.map((l) => l.diffID),
      dest,
      sources: identity,
      chown: cmd.chown,
      chmod: cmd.chmod,
      link: cmd.link,
      parents: cmd.parents,
      excludes: cmd.excludes,
    }
    // What the copy saw of its context sources that their digest does not show (copyExact).
    const unkeyed = { seen: false }
    return await layerStep(
      builder.deps,
      run,
      s,
      key,
      description,
      async (snap) => {
        if (fromLayers) prepared.unshift(await stageSources(builder, run, fromLayers, locals))
        const linked = cmd.link && cmd.chmod === ''
        const destRoot = await snap.root()
        const owner =
          cmd.chown === ''
            ? undefined
            : await chownOwner(
                linked ? undefined : destRoot,
                cmd.chown,
                builder.deps.executor,
                s.layers,
                run.signal,
              )
        // Files of the context are linked, not copied, where nothing about them changes.
        const links = new LinkPlan()
        unkeyed.seen = false
        for (const p of prepared) {
          const fromContext = source === undefined && !add && p.root === run.ctx.root
          await copyInto({
            destRoot,
            dest: p.dest ?? dest,
            srcRoot: p.root,
            srcs: p.srcs,
            ...(p.ignored ? { ignored: p.ignored } : {}),
            ...(exclude ? { exclude } : {}),
            // Context files and inline files are root's unless --chown says otherwise.
            chown: owner ?? (source === undefined ? { uid: 0, gid: 0 } : undefined),
            ...(owner ? { archiveOwner: owner } : {}),
            ...(mode ? { chmod: mode } : {}),
            unpack: p.unpack,
            ...(fromContext ? { links } : {}),
            ...(p.root === run.ctx.root ? { unkeyed } : {}),
          })
        }
        if (links.files.size > 0) {
          if (snap.adopting) {
            const upper = await snap.upper()
            await placeCopies(links, upper, {
              epoch: run.epoch,
              ...(snap.written ? { written: snap.written } : {}),
            })
          } else await placeLinks(links, await snap.upper())
        }
      },
      {
        // BuildKit merges a --link copy onto the stage only without --chmod; with it, a plain copy.
        ...(cmd.link && cmd.chmod === '' ? { parents: [] } : {}),
        exact: {
          lookup: () => copyExact(run, cmd, source, prepared),
          made: () => (unkeyed.seen ? undefined : exactOf(run, cmd, source)),
        },
      },
    )
  } finally {
    for (const p of prepared) await p.release?.()
  }
}

/**
 * What a COPY's layer depends on besides its key, where the key and this settle it (layer-step.ts
 * `exact`); undefined where they may not. The key holds the parents, destination, owner and mode
 * changes, and the sources: a stage's or image's layers, or the context's names, types, modes and
 * contents. Besides, the layer's times are clamped to the epoch, which leaves a source's time
 * alone where it is older: only a stage's or image's files (in its layers) are settled then, a
 * context file's time is not in the key. The copy keeps hard links between sources, which the
 * context's digest does not show: a context with any is left out (here an lstat of each source
 * path, before the step is made; once made, what the copy saw: `unkeyed`). Left out too: ADD (archives, URLs), --parents and heredoc files.
 */
async function copyExact(
  run: Run,
  cmd: CopyCommand,
  source: Source | undefined,
  prepared: { root: string; srcs: { followed: string }[] }[],
): Promise<string | undefined> {
  const exact = exactOf(run, cmd, source)
  if (exact === undefined) return undefined
  if (source === undefined) {
    const paths: string[] = []
    for (const p of prepared) {
      if (p.root !== run.ctx.root) return undefined
      for (const { followed } of p.srcs) {
        paths.push(followed)
        if (run.ctx.entry(followed)?.type === 'dir') paths.push(...run.ctx.below(followed))
      }
    }
    for (let i = 0; i < paths.length; i++) {
      // Synchronous, a batch between turns of the event loop, as copy.ts lstatAll.
      if (i > 0 && i % 256 === 0) await new Promise((r) => setImmediate(r))
      let st: Stats
      try {
        st = lstatSync(join(run.ctx.root, paths[i]!))
      } catch {
        return undefined
      }
      // Epoch 0 clamps every time but one before 1970.
      if ((st.isFile() && st.nlink > 1) || st.mtimeMs < 0) return undefined
    }
  }
  return exact
}

/**
 * copyExact's digest before its look at the context's files: undefined where the kind of COPY
 * is never settled by its key (the copy itself tells of hard links and old times: `unkeyed`).
 */
function exactOf(run: Run, cmd: CopyCommand, source: Source | undefined): string | undefined {
  if (cmd.kind !== 'copy' || cmd.parents || cmd.contents.length > 0) return undefined
  if (source === undefined && run.epoch !== 0) return undefined
  return `epoch ${run.epoch}`
}

/** A stage's or image's sources, in a snapshot of its layers that lives until `release`. */
async function stageSources(
  builder: StepEnv,
  run: Run,
  layers: LayerRef[],
  locals: string[],
): Promise<{
  root: string
  srcs: { name: string; followed: string }[]
  unpack: false
  release: () => Promise<void>
}> {
  const snap = await builder.deps.executor.snapshot(layers, run.signal)
  try {
    const root = await snap.root()
    const srcs: { name: string; followed: string }[] = []
    for (const src of locals) srcs.push(...(await rootSources(root, src)))
    return { root, srcs, unpack: false, release: () => snap.release() }
  } catch (err) {
    await snap.release()
    throw err
  }
}

/** Sources in a stage's or image's root: globs matched per component, symlinks followed inside it. */
export async function rootSources(
  root: string,
  src: string,
): Promise<{ name: string; followed: string }[]> {
  const clean = posix.normalize(`/${src}`)
  const notFound = () =>
    new InvalidArgument(`failed to compute cache key: "${clean}" not found: not found`)
  if (!hasWildcards(clean)) {
    const host = await resolveInRoot(root, clean)
    await lstat(host).catch(() => {
      throw notFound()
    })
    return [{ name: clean.slice(1), followed: posix.relative(root, host) }]
  }
  let bases = ['/']
  for (const part of clean.split('/').filter((p) => p !== '')) {
    const next: string[] = []
    for (const b of bases) {
      if (!hasWildcards(part)) {
        next.push(posix.join(b, part))
        continue
      }
      const host = await resolveInRoot(root, b)
      const names = await readdir(host).catch(() => [] as string[])
      const re = new RegExp(
        `^${part
          .replace(/[.+^${}()|\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')}$`,
      )
      for (const n of names.sort()) if (re.test(n)) next.push(posix.join(b, n))
    }
    bases = next
  }
  const out: { name: string; followed: string }[] = []
  for (const b of bases) {
    const host = await resolveInRoot(root, b)
    if (await lstat(host).catch(() => undefined))
      out.push({ name: b.slice(1), followed: posix.relative(root, host) })
  }
  return out
}

/** --chown's owner: numbers as they are; names from the image's /etc/passwd and /etc/group (unknown ones are root, as BuildKit has it). */
export async function chownOwner(
  root: string | undefined,
  spec: string,
  executor: BuildExecutor,
  parents: LayerRef[],
  signal: AbortSignal,
): Promise<Owner> {
  const [u = '', g] = spec.split(':', 2) as [string, string | undefined]
  const num = (v: string) =>
    v === 'root' ? 0 : /^\d+$/.test(v) ? Number.parseInt(v, 10) : undefined
  let snap: Snapshot | undefined
  const lookup = async (file: string, name: string): Promise<[number, number] | undefined> => {
    if (!root) {
      snap = snap ?? (await executor.snapshot(parents, signal))
      root = await snap.root()
    }
    try {
      const text = await readFile(await resolveInRoot(root, file), 'utf8')
      for (const line of text.split('\n')) {
        const f = line.split(':')
        if (f[0] === name && f.length >= 3) return [Number(f[2]), Number(f[3] ?? f[2])]
      }
    } catch {
      // No such file: as if the name were not in it.
    }
    return undefined
  }
  try {
    let uid = 0
    let gid = 0
    const nu = num(u)
    if (nu !== undefined) {
      uid = nu
      gid = nu
    } else {
      const e = await lookup('/etc/passwd', u)
      if (e) [uid, gid] = [e[0], e[1]]
    }
    if (g !== undefined) {
      const ng = num(g)
      if (ng !== undefined) gid = ng
      else {
        const e = await lookup('/etc/group', g)
        if (e) gid = e[0]
      }
    }
    return { uid, gid }
  } finally {
    await snap?.release()
  }
}

/** ADD's download: the file named after the URL's last path part, mode 0600, checked against --checksum. */
export async function download(
  url: string,
  dir: string,
  checksum: string,
  signal: AbortSignal,
): Promise<{ name: string; sha256: string }> {
  let name = '__unnamed__'
  try {
    const base = posix.basename(new URL(url).pathname)
    if (base !== '' && base !== '/' && base !== '.') name = base
  } catch {
    throw new InvalidArgument(`invalid URL: ${url}`)
  }
  let res: Response
  try {
    res = await fetch(url, { signal, redirect: 'follow' })
  } catch (err) {
    throw new InvalidArgument(`failed to load ${url}: ${(err as Error).message}`, { cause: err })
  }
  if (!res.ok || !res.body) throw new InvalidArgument(`invalid response status ${res.status}`)
  const path = join(dir, name)
  const h = createHash('sha256')
  const fh = await open(path, 'wx', 0o600)
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      h.update(chunk)
      await fh.write(chunk)
    }
  } finally {
    await fh.close()
  }
  const sha256 = h.digest('hex')
  if (checksum !== '' && checksum !== `sha256:${sha256}`) {
    throw new InvalidArgument(`digest mismatch ${checksum}: sha256:${sha256}`)
  }
  await chmod(path, 0o600)
  return { name, sha256 }
}

/** Files copied between turns of the event loop (a few system calls each). */
const COPY_BATCH = 64

/** How many bytes of the copies' contents are kept for commit's read of the layer, at most. */
const WRITTEN_MAX = 16 * 1024 * 1024

/**
 * A link plan's files copied, not linked, straight into the upper directory (the overlay no
 * longer mounted), for a snapshot whose upper directory becomes the layer itself: a layer may not
 * share an inode with the context, which changes and is pruned, and a link would only be broken
 * again at commit (a copy and a rename more a file). Each copy gets the source's owner, mode,
 * xattrs and times, as a link would have shown them; the directories get back the times the copy
 * gave them. With `epoch` (the layer's clamp, seconds), a copy keeps the time the copy gave it
 * where the layer clamps both that and the source's to the epoch (the layer's times are set at
 * commit, layer/adopt.ts). With `written`, small files are copied through this process and their
 * bytes kept there (by their path in the layer, up to WRITTEN_MAX in all), so commit's read of
 * the layer does not read them again.
 */
export async function placeCopies(
  plan: LinkPlan,
  upper: string,
  opts: { epoch?: number; written?: Map<string, WrittenFile> } = {},
): Promise<void> {
  const times = new Map<string, { atime: Date; mtime: Date }>()
  for (const d of plan.dirs) {
    const st = await lstat(posix.join(upper, d))
    if (!st.isDirectory()) throw new InvalidArgument(`copy: /${d} is not a directory`)
    times.set(d, { atime: st.atime, mtime: st.mtime })
  }
  // The copies are made from now on, so their times are later than this (a second of margin for
  // the filesystem's coarse clock).
  const { epoch, written } = opts
  const clampMs =
    epoch !== undefined && Date.now() - 1000 >= epoch * 1000 ? epoch * 1000 : undefined
  const xattrs = new XattrsAsSet()
  let kept = 0
  let n = 0
  for (const [rel, src] of plan.files) {
    const st = plan.stats.get(rel) ?? lstatSync(src)
    const keep = written !== undefined && kept + st.size <= WRITTEN_MAX
    const dst = childPath(upper, rel)
    const copied = await copyOne(dst, src, st, keep)
    if (copied && written) {
      const { data } = copied
      written.set(`/${rel}`, xattrs.known(dst, copied.xattrs) ? copied : { data })
      kept += data.length
    }
    if (clampMs === undefined || st.mtimeMs < clampMs) {
      lutimesSync(dst, st.atimeMs / 1000, st.mtimeMs / 1000)
    }
    if (++n % COPY_BATCH === 0) await new Promise((r) => setImmediate(r))
  }
  for (const [d, t] of times) lutimesSync(posix.join(upper, d), t.atime, t.mtime)
}

/**
 * Whether the xattrs a copy set on a new file are all it has, so commit's read of the layer need
 * not list them again. A new file can get xattrs nobody set: an access ACL from its directory's
 * default ACL (any directory may have one, made by the copy itself from the source's), or a label
 * from a security module (then every new file has one). So: the first copy's xattrs are listed
 * and compared, and each directory is checked once for a default ACL.
 */
class XattrsAsSet {
  private checked = false
  private labelled = false
  private readonly plainDirs = new Map<string, boolean>()

  known(dst: string, set: readonly string[]): boolean {
    if (!this.checked) {
      this.checked = true
      const listed = llistxattrIfAny(dst)
      this.labelled = listed === undefined || !sameNames(listed, set)
    }
    if (this.labelled) return false
    const dir = posix.dirname(dst)
    let plain = this.plainDirs.get(dir)
    if (plain === undefined) {
      plain = llistxattrIfAny(dir)?.includes(DEFAULT_ACL) === false
      this.plainDirs.set(dir, plain)
    }
    return plain
  }
}

const DEFAULT_ACL = 'system.posix_acl_default'

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const set = new Set(a)
  return b.every((n) => set.has(n))
}

/** One copy; its bytes when `keep` and it is small enough to be copied through this process. */
async function copyOne(
  dst: string,
  src: string,
  st: Stats,
  keep: boolean,
): Promise<{ data: Buffer; xattrs: string[] } | undefined> {
  const copy = async () => {
    if (keep) {
      const data = copySmallFileKeeping(src, dst, st)
      if (data) return data
    }
    await copyFilePreserving(src, dst, st, constants.COPYFILE_EXCL)
    return undefined
  }
  try {
    return await copy()
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err
    // Only the whiteout of a lower layer's file the copy replaced can be in the way.
    const there = lstatSync(dst)
    if (!there.isCharacterDevice() || there.rdev !== 0) throw err
    unlinkSync(dst)
    return await copy()
  }
}
