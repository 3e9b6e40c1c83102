// RUN steps: the command line, heredocs, --mount, --network and the proxy args, run in a snapshot.
import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { InvalidArgument } from '../errors.ts'
import { resolveInRoot } from '../fsroot.ts'
import { copyInto } from './copy.ts'
import { runHistory, withShell, type StageState } from './dispatch.ts'
import { DockerfileError, StepFailed, goQuote } from './errors.ts'
import { parseMount, type RunCommand } from './instructions.ts'
import { chompHeredoc, parseHeredoc } from './parser.ts'
import type { PlannedCommand } from './plan.ts'
import type { NetworkMode, StepMount, StepProcess } from './types.ts'
import { type Run, type StepEnv, PROXY_ARGS } from './build-run.ts'
import { layerStep } from './layer-step.ts'
import { rootSources } from './copy-step.ts'

export async function runStep(
  builder: StepEnv,
  run: Run,
  s: StageState,
  cmd: RunCommand,
  pc: PlannedCommand,
  step: number,
): Promise<boolean> {
  if (cmd.security === 'insecure') {
    throw new InvalidArgument(
      'granting entitlement security.insecure is not allowed by build daemon configuration',
    )
  }
  const rc = s.config.config
  let args = [...cmd.cmdLine]
  const inline: { name: string; data: string }[] = []
  if (cmd.files.length > 0) {
    if (args.length !== 1 || !cmd.prependShell) {
      throw new DockerfileError(`parsing produced an invalid run command: ${JSON.stringify(args)}`)
    }
    if (parseHeredoc(args[0]!)) {
      const f = cmd.files[0]!
      const data = f.chomp ? chompHeredoc(f.data) : f.data
      if (data.startsWith('#!')) {
        // A heredoc script with a shebang runs as a file of its own, not through the shell.
        inline.push({ name: f.name, data })
        args = [`/dev/pipes/${f.name}`]
      } else {
        args = [data]
      }
    } else {
      args = [[args[0]!, ...cmd.files.map((f) => `\n${f.data}${f.name}`)].join('')]
    }
  }
  const argv = cmd.prependShell && inline.length === 0 ? withShell(rc, args) : args
  const description = runHistory(argv, s.buildArgs, s.env)
  const wd = rc.WorkingDir || '/'
  const mounts = cmd.mounts.map((m) => parseMount(m, (w) => run.lex.processWord(w, s.env)))
  const network: NetworkMode = cmd.network === 'default' ? run.opts.network : cmd.network
  const env = s.env.toStrings()
  const given = Object.entries(run.opts.buildArgs).filter(
    ([k, v]) => v !== null && PROXY_ARGS.includes(k.toUpperCase()),
  )
  const proxyEnv = given.flatMap(([k, v]) => [
    `${k.toUpperCase()}=${v!}`,
    `${k.toLowerCase()}=${v!}`,
  ])
  const extraHosts = run.opts.extraHosts.map((h) => {
    const i = h.indexOf(':')
    return { host: h.slice(0, i), ip: h.slice(i + 1) }
  })

  // What the mounts bring in, for the key; and how to set them up once a snapshot exists.
  const mountKeys: unknown[] = []
  for (const [i, m] of mounts.entries()) {
    if (m.type === 'ssh')
      throw new DockerfileError('RUN --mount=type=ssh is not supported by berth')
    const target = m.target.startsWith('/')
      ? posix.normalize(m.target)
      : posix.join('/', wd, m.target)
    if (m.type !== 'secret' && target === '/')
      throw new DockerfileError(`invalid mount target ${goQuote(target)}`)
    const from = pc.mountFrom?.[i]
    if (m.type === 'bind') {
      if (from === undefined)
        mountKeys.push([
          'bind',
          target,
          m.readOnly,
          run.ctx.digest(run.ctx.resolve(posix.normalize(`/${m.source}`).slice(1)) ?? ''),
        ])
      else {
        const layers =
          from.kind === 'stage'
            ? (await run.stages.get(from.index)!.done).layers
            : run.images.get(from.ref)!.layers
        mountKeys.push(['bind', target, m.readOnly, m.source, layers.map((l) => l.diffID)])
      }
    } else if (m.type === 'cache') {
      // A cache mount's contents are not part of the key: the step's result is not promised
      // to be the same whatever the cache holds, as with BuildKit.
      mountKeys.push(['cache', target, m.cacheId || posix.normalize(m.target), m.sharing])
    } else if (m.type === 'tmpfs') {
      mountKeys.push(['tmpfs', target, m.sizeLimit])
    } else {
      mountKeys.push(['secret', target, m.env ?? ''])
    }
  }
  const key = {
    op: 'run',
    parent: s.layers.map((l) => l.diffID),
    args: argv,
    inline,
    env,
    cwd: wd,
    user: rc.User ?? '',
    network,
    mounts: mountKeys,
    extraHosts,
  }
  return layerStep(builder.deps, run, s, key, description, async (snap) => {
    const releases: (() => Promise<void>)[] = []
    try {
      const stepMounts: StepMount[] = []
      const stepEnv = [...env, ...proxyEnv]
      for (const [i, m] of mounts.entries()) {
        const target = m.target.startsWith('/')
          ? posix.normalize(m.target)
          : posix.join('/', wd, m.target)
        const from = pc.mountFrom?.[i]
        if (m.type === 'tmpfs') {
          stepMounts.push({
            type: 'tmpfs',
            source: '',
            destination: target,
            readOnly: false,
            size: m.sizeLimit,
          })
        } else if (m.type === 'cache') {
          const id = m.cacheId || posix.normalize(m.target)
          // from= fills a new cache directory with a stage's or image's files.
          const seed = from
            ? async (dir: string) => {
                const layers =
                  from.kind === 'stage'
                    ? (await run.stages.get(from.index)!.done).layers
                    : run.images.get(from.ref)!.layers
                const src = await builder.deps.executor.snapshot(layers, run.signal)
                try {
                  const srcRoot = await src.root()
                  const rel = (await rootSources(srcRoot, m.source || '/'))[0]!
                  await copyInto({
                    destRoot: dir,
                    dest: '/',
                    srcRoot,
                    srcs: [rel],
                    unpack: false,
                  })
                } finally {
                  await src.release()
                }
              }
            : undefined
          const owner = { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o755 }
          let dir: string
          if (m.sharing === 'private' && builder.inUse.has(id)) {
            // In use by another step: this one gets a directory of its own, as BuildKit's
            // private sharing does (kept for this step only).
            dir = await mkdtemp(join(run.tmp, 'cache-'))
            await chown(dir, owner.uid, owner.gid)
            await chmod(dir, owner.mode)
            if (seed) await seed(dir)
          } else {
            if (m.sharing === 'locked') releases.push(await builder.lock(`cache:${id}`))
            dir = await builder.deps.cache.mount(id, owner, seed)
            builder.inUse.set(id, (builder.inUse.get(id) ?? 0) + 1)
            releases.push(async () => {
              const n = (builder.inUse.get(id) ?? 1) - 1
              if (n === 0) builder.inUse.delete(id)
              else builder.inUse.set(id, n)
            })
          }
          stepMounts.push({
            type: 'bind',
            source: dir,
            destination: target,
            readOnly: m.readOnly,
          })
        } else if (m.type === 'secret') {
          const id = m.source || m.cacheId || posix.basename(m.target)
          const value = run.opts.secrets?.get(id)
          if (value === undefined) {
            if (m.required) throw new InvalidArgument(`secret ${id}: not found`)
            continue
          }
          if (m.env !== undefined) stepEnv.push(`${m.env || id}=${value.toString()}`)
          if (m.env === undefined || m.target !== '') {
            const file = join(run.tmp, `secret-${randomBytes(6).toString('hex')}`)
            await writeFile(file, value, { mode: m.mode ?? 0o400 })
            await chmod(file, m.mode ?? 0o400)
            await chown(file, m.uid ?? 0, m.gid ?? 0)
            releases.push(() => rm(file, { force: true }))
            stepMounts.push({
              type: 'bind',
              source: file,
              destination: m.target || `/run/secrets/${posix.basename(id)}`,
              readOnly: true,
            })
          }
        } else if (from === undefined) {
          const rel = run.ctx.resolve(posix.normalize(`/${m.source}`).slice(1))
          if (rel === undefined)
            throw new InvalidArgument(
              `failed to compute cache key: "/${m.source}" not found: not found`,
            )
          let source = join(run.ctx.root, rel)
          if (!m.readOnly) {
            // Writes to a read-write bind of the context are thrown away with the step.
            const copy = await mkdtemp(join(run.tmp, 'bind-'))
            await copyInto({
              destRoot: copy,
              dest: '/',
              srcRoot: run.ctx.root,
              srcs: [{ name: rel, followed: rel }],
              ignored: (r) => run.ctx.ignored(r),
              unpack: false,
            })
            source = copy
            releases.push(() => rm(copy, { recursive: true, force: true }))
          }
          stepMounts.push({ type: 'bind', source, destination: target, readOnly: m.readOnly })
        } else {
          const layers =
            from.kind === 'stage'
              ? (await run.stages.get(from.index)!.done).layers
              : run.images.get(from.ref)!.layers
          const src = await builder.deps.executor.snapshot(layers, run.signal)
          releases.push(() => src.release())
          stepMounts.push({
            type: 'bind',
            source: await resolveInRoot(await src.root(), m.source || '/'),
            destination: target,
            readOnly: m.readOnly,
          })
        }
      }
      if (inline.length > 0) {
        const dir = await mkdtemp(join(run.tmp, 'pipes-'))
        releases.push(() => rm(dir, { recursive: true, force: true }))
        for (const f of inline) {
          await writeFile(join(dir, f.name), f.data, { mode: 0o755 })
          await chmod(join(dir, f.name), 0o755)
        }
        stepMounts.push({ type: 'bind', source: dir, destination: '/dev/pipes', readOnly: true })
      }
      const taskId = randomBytes(32).toString('hex')
      const proc: StepProcess = {
        id: taskId,
        args: argv,
        env: stepEnv,
        cwd: wd,
        user: rc.User ?? '',
        mounts: stepMounts,
        network,
        extraHosts,
      }
      run.emit({ type: 'running', step, id: taskId })
      const tail: string[] = []
      let partial = ''
      const code = await snap.run(
        proc,
        (stream, data) => {
          run.emit({ type: 'output', step, stream, data })
          const text = partial + data.toString('utf8')
          const lines = text.split('\n')
          partial = lines.pop() ?? ''
          tail.push(...lines)
          if (tail.length > 20) tail.splice(0, tail.length - 20)
        },
        run.signal,
      )
      if (partial !== '') tail.push(partial)
      if (code !== 0) {
        throw new StepFailed(
          `process ${goQuote(argv.join(' '))} did not complete successfully: exit code: ${code}`,
          code,
          tail.slice(-10),
        )
      }
    } finally {
      for (const r of releases.reverse()) await r()
    }
  })
}
