// berth notebook: the tutorial's Jupyter recipe in one command. A notebook container started
// detached with its port published on a free port of 127.0.0.1 only (a token-protected server on
// every address of a shared lab server is a risk), the URL with its token once the server
// answers, and the ssh line that forwards the port to a laptop. `notebook ls` and `notebook
// stop` find the notebooks by their label. Everything goes through the Engine API.
import { existsSync, realpathSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import { Writable, type Readable } from 'node:stream'
import { DaemonError, jsonLines, type Client, type JSONMessage } from '../client.ts'
import type { CommandDef, Ctx } from '../command.ts'
import { CliError, err, list, out, str } from '../command.ts'
import { parseContainerConfig, runFlags } from '../containeropts.ts'
import { createContainer, toStatusError } from '../containerrun.ts'
import { parseFlags, type FlagDef, type ParsedFlags } from '../flags.ts'
import { StdcopyDemuxer } from '../hijack.ts'
import { tabwrite } from '../tabwriter.ts'
import { BuildProgress } from './build-progress.ts'
import { packDirectory } from './build-context.ts'
import {
  NOTEBOOK_LABEL,
  NOTEBOOK_PORT,
  notebookURL,
  startedLines,
  tail,
  tokenIn,
} from './notebook-lines.ts'

const DEFAULT_IMAGE = 'berth-notebook'
const PORT_KEY = `${NOTEBOOK_PORT}/tcp`

/** run's own flag definitions, so -v and --gpus read (and are sent) exactly as run's. */
function runFlag(long: string): FlagDef {
  const def = runFlags.find((d) => d.long === long)
  if (!def) throw new Error(`run has no --${long}`)
  return def
}

export const command: CommandDef = {
  usage: '[OPTIONS] [IMAGE] | ls | stop NAME',
  short: 'Start a Jupyter notebook published on 127.0.0.1, for an ssh tunnel',
  long:
    'Start a Jupyter notebook container (IMAGE, by default berth-notebook built from\n' +
    'examples/jupyter) with its port published on a free port of 127.0.0.1 only, wait until it\n' +
    'answers, and print its URL with the token and the ssh line that forwards it to a laptop.\n\n' +
    '  berth notebook ls          List the notebooks with their URLs\n' +
    '  berth notebook stop NAME   Stop a notebook',
  args: { max: 2 },
  flags: [runFlag('gpus'), runFlag('name'), runFlag('volume')],
  async run(ctx, f) {
    const [first, second] = f.args
    if (first === 'ls') {
      if (second !== undefined) throw new CliError('berth notebook ls accepts no arguments')
      return listNotebooks(await ctx.client())
    }
    if (first === 'stop') {
      if (second === undefined) throw new CliError('berth notebook stop requires a NAME')
      return stopNotebook(await ctx.client(), second)
    }
    if (second !== undefined) throw new CliError('berth notebook takes at most one IMAGE')
    return startNotebook(ctx, f, first)
  },
}

async function startNotebook(ctx: Ctx, f: ParsedFlags, image: string | undefined): Promise<number> {
  const client = await ctx.client()
  if (image === undefined) {
    image = DEFAULT_IMAGE
    await ensureDefaultImage(client)
  }
  // run's own parsing of the equivalent `run -d` line: the same body run would send.
  const argv = [
    '--detach',
    '--workdir',
    '/home',
    '--publish',
    `127.0.0.1::${NOTEBOOK_PORT}`,
    '--label',
    `${NOTEBOOK_LABEL}=1`,
    ...list(f, 'volume').flatMap((v) => ['--volume', v]),
    ...list(f, 'gpus').flatMap((g) => ['--gpus', g]),
    ...(str(f, 'name') ? ['--name', str(f, 'name')] : []),
    image,
  ]
  let id: string
  try {
    const cfg = await parseContainerConfig(
      parseFlags(runFlags, argv, false),
      true,
      ctx.host.slice('unix://'.length),
    )
    id = await createContainer(client, cfg, 'missing', false, ctx.config)
    const res = await client.request('POST', `/containers/${encodeURIComponent(id)}/start`)
    res.resume()
  } catch (e) {
    throw toStatusError(e, 'notebook')
  }
  const token = await waitForToken(client, id)
  const { name, port } = await describe(client, id)
  const user = process.env.USER || process.env.LOGNAME || userInfo().username
  out(startedLines(name, port, token, user, hostname()))
  return 0
}

/**
 * Follows the container's log until Jupyter prints its URL with the token (it does once it
 * listens); fails with the log's tail when the log ends first (the container exited).
 */
async function waitForToken(client: Client, id: string): Promise<string> {
  const res = await client.request('GET', `/containers/${encodeURIComponent(id)}/logs`, {
    query: { follow: true, stdout: true, stderr: true },
  })
  let log = ''
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      log += chunk.toString('utf8')
      cb()
    },
  })
  const demux = new StdcopyDemuxer(sink, sink)
  for await (const chunk of res) {
    demux.push(chunk as Buffer)
    const token = tokenIn(log)
    if (token !== undefined) {
      res.destroy()
      return token
    }
  }
  const state = await client
    .json<{ State?: { ExitCode?: number } }>('GET', `/containers/${encodeURIComponent(id)}/json`)
    .catch(() => ({ State: undefined }))
  throw new CliError(
    `the notebook container ${id.slice(0, 12)} exited (code ${state.State?.ExitCode ?? '?'}) ` +
      `before its server printed a URL with a token; the end of its log:\n${tail(log)}`,
  )
}

interface Inspected {
  Name: string
  NetworkSettings?: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> }
}

async function describe(client: Client, id: string): Promise<{ name: string; port: string }> {
  const c = await client.json<Inspected>('GET', `/containers/${encodeURIComponent(id)}/json`)
  const port = c.NetworkSettings?.Ports?.[PORT_KEY]?.find((b) => b.HostIp === '127.0.0.1')
  if (!port) throw new CliError(`the notebook's port ${PORT_KEY} is not published on 127.0.0.1`)
  return { name: c.Name.replace(/^\//, ''), port: port.HostPort }
}

/** The whole log so far (no follow), as text. */
async function readLog(client: Client, id: string): Promise<string> {
  const res = await client.request('GET', `/containers/${encodeURIComponent(id)}/logs`, {
    query: { stdout: true, stderr: true },
  })
  let log = ''
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      log += chunk.toString('utf8')
      cb()
    },
  })
  const demux = new StdcopyDemuxer(sink, sink)
  for await (const chunk of res as Readable) demux.push(chunk as Buffer)
  return log
}

interface Listed {
  Id: string
  Names: string[]
  State: string
  Status: string
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[]
}

async function listNotebooks(client: Client): Promise<number> {
  const filters = JSON.stringify({ label: { [`${NOTEBOOK_LABEL}=1`]: true } })
  const cs = await client.json<Listed[]>('GET', '/containers/json', {
    query: { all: true, filters },
  })
  let text = 'NAME\tSTATUS\tURL\n'
  for (const c of cs) {
    const name = (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, '')
    const p = c.Ports.find(
      (x) => x.PrivatePort === NOTEBOOK_PORT && x.IP === '127.0.0.1' && x.PublicPort,
    )
    const url =
      c.State === 'running' && p
        ? notebookURL(String(p.PublicPort), tokenIn(await readLog(client, c.Id)))
        : ''
    text += `${name}\t${c.Status}\t${url}\n`
  }
  out(tabwrite(text, { minwidth: 20, padding: 3 }))
  return 0
}

async function stopNotebook(client: Client, name: string): Promise<number> {
  const path = `/containers/${encodeURIComponent(name)}`
  const c = await client.json<{ Config?: { Labels?: Record<string, string> | null } }>(
    'GET',
    `${path}/json`,
  )
  if (c.Config?.Labels?.[NOTEBOOK_LABEL] === undefined) {
    throw new CliError(`${name} is not a berth notebook (see berth notebook ls)`)
  }
  ;(await client.request('POST', `${path}/stop`)).resume()
  out(`${name}\n`)
  return 0
}

/** examples/jupyter beside this berth (dist/berth.cjs → ../examples/jupyter), if it is there. */
function exampleDir(): string | undefined {
  const script = process.argv[1]
  if (!script) return undefined
  const dir = join(dirname(realpathSync(script)), '..', 'examples', 'jupyter')
  return existsSync(join(dir, 'Dockerfile')) ? dir : undefined
}

/** Builds berth-notebook from examples/jupyter through POST /build when it is not there yet. */
async function ensureDefaultImage(client: Client): Promise<void> {
  try {
    await client.json('GET', `/images/${DEFAULT_IMAGE}/json`)
    return
  } catch (e) {
    if (!(e instanceof DaemonError) || e.status !== 404) throw e
  }
  const dir = exampleDir()
  const passImage = 'pass a notebook IMAGE: berth notebook IMAGE'
  if (!dir) {
    throw new CliError(
      `there is no ${DEFAULT_IMAGE} image and no examples/jupyter beside berth to build it from; ${passImage}`,
    )
  }
  err(`Building ${DEFAULT_IMAGE} from ${dir} (once)\n`)
  const ctxTar = await packDirectory(dir, '')
  let failure: string | undefined
  try {
    const res = await client.request('POST', '/build', {
      query: { t: [DEFAULT_IMAGE], dockerfile: ctxTar.dockerfile, berthprogress: true, rm: true },
      body: ctxTar.tar,
      headers: { 'Content-Type': 'application/x-tar' },
    })
    const tty = process.stderr.isTTY === true
    const progress = new BuildProgress(tty ? 'tty' : 'plain', err, process.stderr.columns || 80)
    for await (const m of jsonLines<JSONMessage>(res)) {
      if (m.errorDetail?.message || m.error) failure = m.errorDetail?.message ?? m.error
      else if (m.id === 'berth.build' && m.aux !== undefined) progress.handle(m.aux)
    }
    progress.end()
  } catch (e) {
    // the daemon refuses before streaming when the FROM image cannot be pulled
    if (!(e instanceof DaemonError)) throw e
    failure = e.message
  }
  if (failure !== undefined) {
    throw new CliError(
      `building ${DEFAULT_IMAGE} from ${dir} failed: ${failure}\n` +
        `(its FROM needs a registry this machine may not reach); ${passImage}`,
    )
  }
}
