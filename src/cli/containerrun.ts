// create, attach, start and wait: the steps docker's run and start are built from.
import { open, rm } from 'node:fs/promises'
import type { Client } from './client.ts'
import { DaemonError, displayJSONMessages, JSONMessageError, readBody } from './client.ts'
import { CliError } from './command.ts'
import type { ContainerConfig } from './containeropts.ts'
import { hijack, streamHijacked } from './hijack.ts'
import { familiarName, familiarString, parseNamed } from '../lib/reference.ts'

export function withHelp(msg: string, cmd: string): string {
  return `berth: ${msg}\n\nRun 'berth ${cmd} --help' for more information`
}

/** docker's toStatusError: 127 for a missing executable, 126 for one that cannot run, else 125. */
export function toStatusError(e: unknown, cmd = 'run'): CliError {
  if (e instanceof CliError) return e
  const msg = (e as Error).message
  if (
    msg.includes('executable file not found') ||
    msg.includes('no such file or directory') ||
    msg.includes('system cannot find the file specified')
  ) {
    return new CliError(withHelp(msg, cmd), 127)
  }
  if (msg.includes('permission denied') || msg.includes('is a directory'))
    return new CliError(withHelp(msg, cmd), 126)
  return new CliError(withHelp(msg, cmd), 125)
}

async function pullImage(client: Client, image: string, quiet: boolean): Promise<void> {
  const r = parseNamed(image)
  const res = await client.request('POST', '/images/create', {
    query: {
      fromImage: familiarName(r),
      tag: r.digest ? undefined : (r.tag ?? 'latest'),
    },
  })
  try {
    await displayJSONMessages(res, (s) => {
      if (!quiet) process.stderr.write(s)
    })
  } catch (e) {
    if (e instanceof JSONMessageError) throw new DaemonError(e.message, 500)
    throw e
  }
}

/** docker's validatePullOpt */
export function checkPullOption(v: string): void {
  if (!['always', 'missing', 'never', ''].includes(v)) {
    throw new Error(`invalid pull option: '${v}': must be one of "always", "missing" or "never"`)
  }
}

/**
 * --cidfile: refused when the file exists, created before the container, removed again when no
 * ID was written to it (docker's cidFile).
 */
async function openCIDFile(path: string): Promise<{
  write(id: string): Promise<void>
  close(): Promise<void>
}> {
  const none = { write: async () => {}, close: async () => {} }
  if (path === '') return none
  let fh
  try {
    fh = await open(path, 'wx')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError(
        `container ID file found, make sure the other container isn't running or delete ${path}`,
      )
    }
    throw new CliError(`failed to create the container ID file: ${(e as Error).message}`)
  }
  let written = false
  return {
    async write(id) {
      await fh.write(id)
      written = true
    },
    async close() {
      await fh.close()
      if (!written) await rm(path, { force: true })
    },
  }
}

/** POST /containers/create, pulling the image first when it is missing (docker's --pull=missing). */
export async function createContainer(
  client: Client,
  cfg: ContainerConfig,
  pull: string,
  quiet: boolean,
): Promise<string> {
  const post = () =>
    client.json<{ Id: string; Warnings?: string[] | null }>('POST', '/containers/create', {
      query: { platform: cfg.platform || undefined, name: cfg.name || undefined },
      bodyFor: cfg.bodyFor,
    })
  let ref = cfg.image
  try {
    const r = parseNamed(cfg.image)
    ref = familiarString({ ...r, tag: r.digest ? r.tag : (r.tag ?? 'latest') })
  } catch {
    // an image ID or something the daemon will judge
  }
  const cid = await openCIDFile(cfg.cidfile)
  try {
    if (pull === 'always') await pullImage(client, cfg.image, quiet)
    let resp
    try {
      resp = await post()
    } catch (e) {
      if (
        !(e instanceof DaemonError) ||
        e.status !== 404 ||
        pull !== 'missing' ||
        !/no such image/i.test(e.message)
      ) {
        throw e
      }
      if (!quiet) process.stderr.write(`Unable to find image '${ref}' locally\n`)
      await pullImage(client, cfg.image, quiet)
      resp = await post()
    }
    const warnings = [...(resp.Warnings ?? [])]
    if (cfg.loopbackDNS) warnings.push(`Localhost DNS (${cfg.loopbackDNS}) may fail in containers.`)
    for (const w of warnings) process.stderr.write(`WARNING: ${w}\n`)
    await cid.write(resp.Id)
    return resp.Id
  } finally {
    await cid.close()
  }
}

/**
 * POST /containers/{id}/wait with the given condition. Resolves once the request is on the
 * wire (so a start sent after it cannot overtake it), to a promise of the exit status.
 */
export async function startWait(
  client: Client,
  id: string,
  condition: string,
): Promise<{ status: Promise<number> }> {
  await client.ensureNegotiated()
  let sent!: () => void
  const onWire = new Promise<void>((r) => (sent = r))
  const status = waitExit(client, id, condition, sent)
  status.catch(() => sent())
  await onWire
  return { status }
}

export async function waitExit(
  client: Client,
  id: string,
  condition: string,
  onSent?: () => void,
): Promise<number> {
  const res = await client.request('POST', `/containers/${encodeURIComponent(id)}/wait`, {
    query: { condition: condition || undefined },
    onSent,
  })
  const body = JSON.parse((await readBody(res)).toString('utf8') || '{}') as {
    StatusCode?: number
    Error?: { Message?: string } | null
  }
  if (body.Error?.Message) {
    process.stderr.write(`${body.Error.Message}\n`)
    return 125
  }
  return body.StatusCode ?? 0
}

export interface AttachOptions {
  tty: boolean
  stdin: boolean
  stdout: boolean
  stderr: boolean
  /** The detachKeys query parameter and the bytes it names (watched with a tty). */
  detachKeys?: { keys: string; bytes: number[] }
}

/** Opens the hijacked attach stream; `done` resolves once the output ends. */
export async function attachContainer(
  client: Client,
  id: string,
  o: AttachOptions,
): Promise<{ done: Promise<boolean> }> {
  const h = await hijack(client, `/containers/${encodeURIComponent(id)}/attach`, {
    stream: true,
    stdin: o.stdin || undefined,
    stdout: o.stdout || undefined,
    stderr: o.stderr || undefined,
    detachKeys: o.detachKeys?.keys || undefined,
  })
  const done = streamHijacked(h, {
    tty: o.tty,
    stdin: o.stdin ? process.stdin : null,
    stdout: o.stdout ? process.stdout : null,
    // with a tty, stderr is merged into the terminal stream
    stderr: o.stderr ? (o.tty ? process.stdout : process.stderr) : null,
    detachKeys: o.detachKeys?.bytes,
  })
  // a rejection is read later by whoever awaits done
  done.catch(() => undefined)
  return { done }
}

const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']

/**
 * --sig-proxy: the signals berth receives go to the container (POST /kill) instead of ending
 * berth. Returns the function that stops forwarding.
 */
export function proxySignals(client: Client, id: string): () => void {
  const forward = (sig: NodeJS.Signals) => {
    client
      .request('POST', `/containers/${encodeURIComponent(id)}/kill`, {
        query: { signal: sig.slice(3) },
      })
      .then((r) => r.resume())
      .catch(() => undefined)
  }
  for (const s of PROXIED) process.on(s, forward)
  return () => {
    for (const s of PROXIED) process.off(s, forward)
  }
}
