// Layer steps against the build cache (a cached layer, or the work done in a snapshot), and WORKDIR's.
import { chmod, chown, mkdir, stat } from 'node:fs/promises'
import { InvalidArgument, errnoCode } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { cacheKey } from './cache.ts'
import type { Owner } from './copy.ts'
import { historyEntry, normalizeWorkdir, type StageState } from './dispatch.ts'
import type { LayerRef, Snapshot } from './types.ts'
import type { BuilderDeps, Run } from './build-run.ts'

/**
 * Runs a layer step against the cache: key → a cached layer, or `work` in a snapshot.
 * `sameInBuild`: the layer follows from the key alone, so under --no-cache a step this build made
 * already is not made again (`Run.madeInBuild`: as BuildKit's solver merges equal operations,
 * `FROM busybox` then `WORKDIR /app` in two stages, which run at the same time, make one layer).
 * A RUN step's command runs again, as --no-cache asks. A failure of the first fails the build,
 * so a step waiting on it only fails with it.
 * `exact`: the layer follows from the key and what this digest names (a COPY's epoch, and that its
 * sources have no hard links), so under --no-cache a record with the same digest whose layer the
 * store still holds names the very layer the step would make again: it is taken instead (the
 * cold build's COPY of a source tree that did not change). `lookup` gives it before the step is
 * made (only under --no-cache), `made` after (what the work saw), for the record.
 */
export async function layerStep(
  deps: BuilderDeps,
  run: Run,
  s: StageState,
  key: unknown,
  description: string,
  work: (snap: Snapshot) => Promise<void>,
  opts: {
    parents?: LayerRef[]
    sameInBuild?: boolean
    exact?: { lookup: () => Promise<string | undefined>; made: () => string | undefined }
  } = {},
): Promise<boolean> {
  const { cache, executor } = deps
  // The epoch is every layer's clamp: a record made under another SOURCE_DATE_EPOCH holds a
  // layer with other times.
  const k = cacheKey({ step: key, epoch: run.epoch })
  let made: ((layer: LayerRef | undefined) => void) | undefined
  let failed: ((err: unknown) => void) | undefined
  if (run.opts.noCache && opts.sameInBuild === true) {
    const steps = run.madeInBuild
    const same = steps.get(k)
    if (same) {
      const layer = await same
      if (layer) {
        run.used.add(layer.diffID)
        s.layers.push(layer)
      }
      s.config.history = [
        ...(s.config.history ?? []),
        historyEntry(description, layer !== undefined),
      ]
      return false
    }
    const result = new Promise<LayerRef | undefined>((resolve, reject) => {
      made = resolve
      failed = reject
    })
    // Reported by the step that makes it; a step waiting on it gets it too.
    result.catch(() => undefined)
    steps.set(k, result)
  }
  if (!run.opts.noCache) {
    const hit = cache.get(k)
    if (hit && (!hit.layer || (await executor.hasLayer(hit.layer)))) {
      cache.touch(k)
      if (hit.layer) {
        run.used.add(hit.layer.diffID)
        s.layers.push(hit.layer)
      }
      s.config.history = [
        ...(s.config.history ?? []),
        historyEntry(description, hit.layer !== undefined),
      ]
      return true
    }
  }
  let layer: LayerRef | undefined
  try {
    const exact = run.opts.noCache ? await opts.exact?.lookup() : undefined
    const held = exact === undefined ? undefined : await heldLayer(deps, run, k, exact)
    if (held) {
      layer = held.layer
      cache.touch(k)
    } else {
      const snap = await executor.snapshot(opts.parents ?? s.layers, run.signal)
      try {
        await work(snap)
        layer = await snap.commit({ epoch: run.epoch, signal: run.signal })
      } finally {
        await snap.release()
      }
      await cache.put(k, layer, description, opts.exact?.made())
    }
  } catch (err) {
    failed?.(err)
    throw err
  }
  made?.(layer)
  if (layer) {
    run.used.add(layer.diffID)
    s.layers.push(layer)
  }
  s.config.history = [...(s.config.history ?? []), historyEntry(description, layer !== undefined)]
  return false
}

/**
 * Under --no-cache, the record of a step whose layer follows from its key and `exact`, where the
 * record was made with the same `exact` and the store holds its layer and blob (a record whose
 * layer is gone is never trusted); undefined otherwise.
 */
async function heldLayer(
  deps: BuilderDeps,
  run: Run,
  k: string,
  exact: string,
): Promise<{ layer: LayerRef | undefined } | undefined> {
  if (!run.opts.noCache) return undefined
  const hit = deps.cache.get(k)
  if (hit?.exact !== exact) return undefined
  if (hit.layer && !(await deps.executor.hasLayer(hit.layer))) return undefined
  return { layer: hit.layer }
}

export async function workdirStep(
  deps: BuilderDeps,
  run: Run,
  s: StageState,
  path: string,
): Promise<boolean> {
  const wd = normalizeWorkdir(s.config.config.WorkingDir ?? '/', path)
  s.config.config.WorkingDir = wd
  if (wd === '/') {
    s.config.history = [...(s.config.history ?? []), historyEntry(`WORKDIR ${wd}`, false)]
    return false
  }
  const user = s.config.config.User ?? ''
  return layerStep(
    deps,
    run,
    s,
    { op: 'mkdir', parent: s.layers.map((l) => l.diffID), path: wd, user },
    `WORKDIR ${wd}`,
    async (snap) => {
      const root = await snap.root()
      const owner =
        user === '' ? undefined : await deps.executor.userIds(root, user).catch(() => undefined)
      await mkdirAll(root, wd, owner)
    },
    { sameInBuild: true },
  )
}

/** MkdirAll inside a root, resolving symlinks within it; new directories are 0755 and owned by `owner`. */
export async function mkdirAll(
  root: string,
  path: string,
  owner: Owner | undefined,
): Promise<void> {
  let cur = ''
  for (const part of path.split('/').filter((p) => p !== '')) {
    cur = `${cur}/${part}`
    const host = await resolveInRoot(root, cur)
    try {
      const st = await stat(host)
      if (!st.isDirectory()) throw new InvalidArgument(`mkdir ${cur}: not a directory`)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
      await mkdir(host, { mode: 0o755 })
      await chmod(host, 0o755)
      if (owner) await chown(host, owner.uid, owner.gid)
    }
  }
}
