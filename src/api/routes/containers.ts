// Container routes: decode the request, call the container service, encode Docker's shapes.
import type { Container, ContainerApi, WaitCondition } from '../../engine/container/types.ts'
import { InvalidArgument, NotFound } from '../../engine/errors.ts'
import type { NetworkSettings } from '../../engine/network/types.ts'
import { portSummaries } from '../ports.ts'
import { hijack, stdcopyFrame, MULTIPLEXED_STREAM, RAW_STREAM } from '../hijack.ts'
import { detachKeysParam, forwardStdin } from '../stdin.ts'
import { readBody, readJson, sendJson, sendStatus } from '../http.ts'
import { parseFilters, type Filters } from '../filters.ts'
import type { Ctx, Router } from '../router.ts'
import { versionAtLeast } from '../version.ts'
import { humanDuration } from '../../lib/units.ts'
import { timestampNanos } from '../../lib/timestamp.ts'
import { parsed } from '../../engine/grammar.ts'
import { mountPoints } from './volumes.ts'
import type { LogConfig } from '../../engine/runtime/types.ts'

const ZERO_TIME = '0001-01-01T00:00:00Z'

function containers(ctx: Ctx): ContainerApi {
  return ctx.engine.containers
}

/** Docker's State.String(), which `docker ps` shows as STATUS. */
export function statusText(c: Container, now = Date.now()): string {
  const s = c.state
  const since = (t: string): string => humanDuration(now - Date.parse(t))
  if (s.Running) {
    if (s.Paused) return `Up ${since(s.StartedAt)} (Paused)`
    if (s.Restarting) return `Restarting (${s.ExitCode}) ${since(s.FinishedAt)} ago`
    if (s.Health) {
      const h = s.Health.Status === 'starting' ? 'health: starting' : s.Health.Status
      return `Up ${since(s.StartedAt)} (${h})`
    }
    return `Up ${since(s.StartedAt)}`
  }
  if (s.Status === 'removing') return 'Removal In Progress'
  if (s.Dead) return 'Dead'
  if (s.StartedAt === ZERO_TIME) return 'Created'
  if (s.FinishedAt === ZERO_TIME) return ''
  return `Exited (${s.ExitCode}) ${since(s.FinishedAt)} ago`
}

/** moby's list.go: arguments holding a space are single-quoted. */
function command(c: Container): string {
  return [c.path, ...c.args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ')
}

function unixSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000)
}

export function summary(
  c: Container,
  net: NetworkSettings,
  size?: { rw: number; rootfs: number },
): Record<string, unknown> {
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.imageRef,
    ImageID: c.image,
    Command: command(c),
    Created: unixSeconds(c.created),
    Ports: portSummaries(net.Ports),
    ...(size ? { SizeRw: size.rw, SizeRootFs: size.rootfs } : {}),
    Labels: c.config.Labels ?? {},
    State: c.state.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode ?? 'default' },
    NetworkSettings: { Networks: net.Networks },
    Mounts: mountPoints(c),
  }
}

export function inspect(
  c: Container,
  dataRoot: string,
  net: NetworkSettings,
): Record<string, unknown> {
  const dir = `${dataRoot}/containers/${c.id}`
  return {
    Id: c.id,
    Created: c.created,
    Path: c.path,
    Args: c.args,
    State: c.state,
    Image: c.image,
    ResolvConfPath: `${dir}/resolv.conf`,
    HostnamePath: `${dir}/hostname`,
    HostsPath: `${dir}/hosts`,
    // Docker names a file only for json-file (local's is its own format, none has none).
    LogPath: logConfig(c).Type === 'json-file' ? c.logPath : '',
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: null,
      NetworkMode: 'default',
      PortBindings: {},
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: false,
      Privileged: false,
      ReadonlyRootfs: false,
      ...c.hostConfig,
      DeviceRequests: deviceRequests(c.hostConfig.DeviceRequests),
      // As given (Docker fills an empty Type in with the default, json-file).
      LogConfig: logConfig(c),
      Runtime:
        typeof c.hostConfig.Runtime === 'string' && c.hostConfig.Runtime !== ''
          ? c.hostConfig.Runtime
          : 'runc',
    },
    GraphDriver: { Name: 'overlay2', Data: null },
    Mounts: mountPoints(c),
    Config: {
      Hostname: '',
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: null,
      Cmd: null,
      Entrypoint: null,
      WorkingDir: '',
      Labels: {},
      ...c.config,
    },
    // The container's network manager says what its network is.
    NetworkSettings: net,
  }
}

/** As create recorded it; a record made before berth kept it logs as json-file. */
function logConfig(c: Container): LogConfig {
  const lc = c.hostConfig.LogConfig as LogConfig | undefined
  return lc?.Type ? lc : { Type: 'json-file', Config: {} }
}

/**
 * DeviceRequests as dockerd shows them: Go's struct, every field there (null where not given),
 * since a request's nulls were left out when it was read.
 */
function deviceRequests(v: unknown): unknown {
  if (!Array.isArray(v)) return null
  return v.map((r: Record<string, unknown>) => ({
    Driver: r.Driver ?? '',
    Count: r.Count ?? 0,
    DeviceIDs: r.DeviceIDs ?? null,
    Capabilities: r.Capabilities ?? null,
    Options: r.Options ?? null,
  }))
}

/**
 * `ancestor=IMAGE`, as moby's ps reads it: the image and every image made on top of it. Like
 * moby's containerd image store, "on top of" is read from the layers: an image whose layers
 * begin with all of IMAGE's (a build FROM it, a commit of its container). A name that names no
 * image here still matches the reference a container was created with.
 */
async function ancestorMatcher(
  ctx: Ctx,
  wanted: string[],
): Promise<(c: Container) => Promise<boolean>> {
  const bases: { id: string; layers: string[] }[] = []
  for (const a of wanted) {
    try {
      const img = await ctx.engine.images.resolve(a)
      bases.push({ id: img.id, layers: img.layers.map((l) => l.diffID) })
    } catch (err) {
      if (!(err instanceof NotFound) && !(err instanceof InvalidArgument)) throw err
    }
  }
  const layersOf = async (id: string): Promise<string[] | undefined> => {
    try {
      return (await ctx.engine.images.resolve(id)).layers.map((l) => l.diffID)
    } catch (err) {
      if (err instanceof NotFound) return undefined
      throw err
    }
  }
  return async (c) => {
    if (wanted.some((a) => a === c.imageRef || c.image === a || c.image.slice(7).startsWith(a))) {
      return true
    }
    if (bases.some((b) => b.id === c.image)) return true
    const mine = bases.length > 0 ? await layersOf(c.image) : undefined
    return (
      mine !== undefined &&
      bases.some((b) => b.layers.length > 0 && b.layers.every((l, i) => mine[i] === l))
    )
  }
}

/** The filters `docker ps` sends; unknown keys are refused as Docker does. */
function matches(c: Container, f: Filters): boolean {
  f.validate(['status', 'name', 'id', 'label', 'ancestor', 'exited', 'before', 'since', 'health'])
  if (!f.exactMatch('status', c.state.Status)) return false
  if (!f.exactMatch('health', c.state.Health?.Status ?? 'none')) return false
  // moby matches the name with and without its slash (so `name=^web$` works).
  const named = (n: string): boolean =>
    new RegExp(n).test(`/${c.name}`) || new RegExp(n).test(c.name)
  if (f.has('name') && !f.get('name').some(named)) return false
  if (f.has('id') && !f.get('id').some((p) => c.id.startsWith(p))) return false
  if (f.has('exited')) {
    if (c.state.Running || c.state.StartedAt === ZERO_TIME) return false
    if (!f.get('exited').includes(String(c.state.ExitCode))) return false
  }
  if (!f.matchKV('label', c.config.Labels)) return false
  return true
}

async function list(ctx: Ctx): Promise<void> {
  const all = ctx.query.bool('all')
  const limit = ctx.query.int('limit', -1)
  const f = parseFilters(ctx.query.get('filters'))
  for (const v of f.get('health')) {
    if (!['starting', 'healthy', 'unhealthy', 'none'].includes(v)) {
      throw new InvalidArgument(`Unrecognised filter value for health: ${v}`)
    }
  }
  let items = (await containers(ctx).list()).sort((a, b) => b.created.localeCompare(a.created))
  if (!all && limit <= 0 && !f.has('status') && !f.has('exited')) {
    items = items.filter((c) => c.state.Running)
  }
  items = items.filter((c) => matches(c, f))
  if (f.has('ancestor')) {
    const ancestor = await ancestorMatcher(ctx, f.get('ancestor'))
    const kept: Container[] = []
    for (const c of items) if (await ancestor(c)) kept.push(c)
    items = kept
  }
  if (limit > 0) items = items.slice(0, limit)
  const size = ctx.query.bool('size')
  const out = []
  for (const c of items) {
    const net = await containers(ctx).networkSettings(c.id)
    const s = summary(c, net, size ? await containers(ctx).sizes(c.id) : undefined)
    out.push({ ...s, Image: await shownImage(ctx, c) })
  }
  sendJson(ctx, 200, out)
}

/** moby's list: the reference the container was made from while it still names that image,
 * else the image ID (once the tag is removed or moved, the old name would mislead). */
async function shownImage(ctx: Ctx, c: Container): Promise<string> {
  if (c.imageRef === c.image) return c.image
  try {
    if ((await ctx.engine.images.resolve(c.imageRef)).id === c.image) return c.imageRef
  } catch (err) {
    if (!(err instanceof NotFound)) throw err
  }
  return c.image
}

async function create(ctx: Ctx): Promise<void> {
  const body = await readJson<Record<string, unknown>>(ctx)
  if (!body || typeof body !== 'object') {
    throw new InvalidArgument('Config cannot be empty in order to create a container')
  }
  // StartInterval came with API 1.44: dockerd drops it from older clients' requests.
  const hc = body.Healthcheck as Record<string, unknown> | null | undefined
  if (hc && typeof hc === 'object' && !versionAtLeast(ctx.apiVersion, '1.44')) {
    delete hc.StartInterval
  }
  const result = await containers(ctx).create(
    body as unknown as Parameters<ContainerApi['create']>[0],
    ctx.query.get('name'),
  )
  sendJson(ctx, 201, result)
}

async function start(ctx: Ctx): Promise<void> {
  await containers(ctx).start(ctx.params.id as string)
  sendStatus(ctx, 204)
}

async function wait(ctx: Ctx): Promise<void> {
  const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition
  if (!['not-running', 'next-exit', 'removed'].includes(condition)) {
    throw new InvalidArgument(`invalid condition: "${condition}"`)
  }
  // The waiter is registered before the headers go out, so a client that starts the
  // container once the headers arrive never misses the exit.
  const result = containers(ctx).wait(ctx.params.id as string, condition, ctx.signal)
  await Promise.race([result, new Promise((r) => setImmediate(r))])
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' })
  ctx.res.flushHeaders()
  try {
    ctx.res.end(JSON.stringify(await result) + '\n')
  } catch (err) {
    ctx.res.end(
      JSON.stringify({ StatusCode: -1, Error: { Message: (err as Error).message } }) + '\n',
    )
  }
}

async function attach(ctx: Ctx): Promise<void> {
  const c = await containers(ctx).get(ctx.params.id as string)
  const q = ctx.query
  const wantStdin = q.bool('stdin')
  const wantStdout = q.bool('stdout')
  const wantStderr = q.bool('stderr')
  const keys = detachKeysParam(q.get('detachKeys'))
  // dockerode sends its options as a JSON body before the stream: that is not stdin.
  if (ctx.req.headers['content-length']) await readBody(ctx)
  const session = await containers(ctx).attach(c.id)
  const { socket, multiplexed } = hijack(ctx, { tty: c.config.Tty === true })
  const frame = (stream: 'stdout' | 'stderr', data: Buffer): Buffer =>
    multiplexed ? stdcopyFrame(stream === 'stdout' ? 1 : 2, data) : data
  socket.on('close', () => session.close())
  if (wantStdin && c.config.OpenStdin) {
    forwardStdin(socket, {
      tty: c.config.Tty === true,
      keys,
      write: (data) => session.writeStdin(data),
      onEnd: () => {
        if (c.config.StdinOnce) session.closeStdin()
      },
      // The container keeps running; only this client's stream ends.
      onDetach: () => session.close(),
    })
  } else {
    socket.resume()
  }
  try {
    for await (const chunk of session.output) {
      if (chunk.stream === 'stdout' ? !wantStdout : !wantStderr) continue
      if (!socket.writable) break
      if (!socket.write(frame(chunk.stream, chunk.data))) {
        await new Promise((r) => socket.once('drain', r))
      }
    }
  } finally {
    session.close()
    if (!socket.destroyed) socket.end()
  }
}

async function logs(ctx: Ctx): Promise<void> {
  const q = ctx.query
  const wantStdout = q.bool('stdout')
  const wantStderr = q.bool('stderr')
  if (!wantStdout && !wantStderr) {
    throw new InvalidArgument('Bad parameters: you must choose at least one stream')
  }
  const c = await containers(ctx).get(ctx.params.id as string)
  // moby reads tail with strconv.Atoi and takes anything else (all, "", junk) as every line.
  const tailRaw = q.get('tail') ?? 'all'
  const tail = /^[-+]?\d+$/.test(tailRaw) ? Number(tailRaw) : undefined
  const entries = await containers(ctx).logs(c.id, {
    follow: q.bool('follow'),
    since: parseTime(q.get('since')),
    until: parseTime(q.get('until')),
    tail: tail !== undefined && tail >= 0 ? tail : undefined,
    signal: ctx.signal,
  })
  const tty = c.config.Tty === true
  const contentType =
    !tty && versionAtLeast(ctx.apiVersion, '1.42') ? MULTIPLEXED_STREAM : RAW_STREAM
  ctx.res.writeHead(200, { 'Content-Type': contentType })
  ctx.res.flushHeaders()
  const timestamps = q.bool('timestamps')
  for await (const e of entries) {
    if (e.stream === 'stdout' ? !wantStdout : !wantStderr) continue
    const data = timestamps
      ? Buffer.concat([Buffer.from(`${rfc3339NanoFixed(e.time)} `), e.data])
      : e.data
    const out = tty ? data : stdcopyFrame(e.stream === 'stdout' ? 1 : 2, data)
    if (!ctx.res.write(out)) await new Promise((r) => ctx.res.once('drain', r))
  }
  ctx.res.end()
}

/** Docker stamps log lines as RFC 3339 in UTC with exactly nine fractional digits. */
export function rfc3339NanoFixed(time: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]00:00)$/.exec(time)
  if (!m) return time
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}Z`
}

/** logs' since/until: unix seconds (the client's forms too, lib/timestamp.ts); 0 is none. */
function parseTime(v: string | undefined): number | undefined {
  if (v === undefined || v === '' || v === '0') return undefined
  return Number(parsed(() => timestampNanos(v))) / 1e9
}

async function inspectRoute(ctx: Ctx): Promise<void> {
  const c = await containers(ctx).get(ctx.params.id as string)
  const out = inspect(c, ctx.engine.dataRoot, await containers(ctx).networkSettings(c.id))
  // (a container whose layer is gone still inspects, with Data null as before)
  const d = await ctx.engine.files.layerDirs(c.id).catch(() => undefined)
  if (d) {
    out.GraphDriver = {
      Data: {
        LowerDir: d.lower.join(':'),
        MergedDir: d.merged,
        UpperDir: d.upper,
        WorkDir: d.work,
      },
      Name: 'overlay2',
    }
  }
  if (ctx.query.bool('size')) {
    const s = await containers(ctx).sizes(c.id)
    Object.assign(out, { SizeRw: s.rw, SizeRootFs: s.rootfs })
  }
  sendJson(ctx, 200, out)
}

async function remove(ctx: Ctx): Promise<void> {
  await containers(ctx).remove(ctx.params.id as string, {
    force: ctx.query.bool('force'),
    volumes: ctx.query.bool('v'),
  })
  sendStatus(ctx, 204)
}

async function kill(ctx: Ctx): Promise<void> {
  await containers(ctx).kill(ctx.params.id as string, ctx.query.get('signal') || 'KILL')
  sendStatus(ctx, 204)
}

async function stop(ctx: Ctx): Promise<void> {
  const t = ctx.query.has('t') ? ctx.query.int('t', 10) : undefined
  await containers(ctx).stop(ctx.params.id as string, t, ctx.query.get('signal'))
  sendStatus(ctx, 204)
}

export function containerRoutes(r: Router): void {
  r.post('/containers/create', create)
  r.get('/containers/json', list)
  r.get('/containers/{id}/json', inspectRoute)
  r.get('/containers/{id}/logs', logs)
  r.post('/containers/{id}/start', start)
  r.post('/containers/{id}/wait', wait)
  r.post('/containers/{id}/attach', attach)
  r.post('/containers/{id}/kill', kill)
  r.post('/containers/{id}/stop', stop)
  r.delete('/containers/{id}', remove)
}
