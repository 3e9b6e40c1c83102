// Published ports of containers on user-defined networks without root. The bridges live in the
// rootless network namespace (rootlessns.ts), which the host cannot route into, so berthd
// listens on the host's port itself (in the host's namespace, where it runs) and hands the
// listening socket to a small forwarder it starts inside the rootless namespace (nsenter),
// which accepts there and connects to the container's address on its bridge. A socket stays in
// the namespace it was made in, so one process serves both sides without crossing namespaces
// itself: the same idea as rootlesskit's port driver and Podman's rootlessport. One forwarder
// per container, started detached, so published ports outlive berthd as the container does.
import { spawn } from 'node:child_process'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { rm, writeFile } from 'node:fs/promises'
import { Internal } from '../errors.ts'
import { ownedPid } from './rootlessns.ts'

/** One published TCP port: the host's side and the container's. */
export interface Forward {
  hostIp: string
  hostPort: number
  targetIp: string
  targetPort: number
}

/** What the forwarder program is told: per inherited listening socket (fd 3, 4, ...), where to. */
export interface ForwarderTarget {
  host: string
  port: number
}

/** The forwarder program: accepts on the inherited sockets, pipes each to its target. */
export function runForwarder(targets: ForwarderTarget[]): Server[] {
  return targets.map((t, i) => {
    const server = createServer({ allowHalfOpen: true }, (client: Socket) => {
      const up = connect({ host: t.host, port: t.port, allowHalfOpen: true })
      const drop = (): void => {
        client.destroy()
        up.destroy()
      }
      client.on('error', drop)
      up.on('error', drop)
      client.on('close', () => up.destroy())
      up.on('close', () => client.destroy())
      client.pipe(up)
      up.pipe(client)
    })
    server.listen({ fd: 3 + i })
    return server
  })
}

function listen(f: Forward): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    // Taken since the bind test (a race with another program): Docker's words for it.
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Internal(
          `Bind for ${f.hostIp || '0.0.0.0'}:${f.hostPort} failed: ${err.code === 'EADDRINUSE' ? 'port is already allocated' : err.message}`,
        ),
      ),
    )
    s.listen({ host: f.hostIp || '0.0.0.0', port: f.hostPort, exclusive: true }, () => resolve(s))
  })
}

export interface ForwarderSpawn {
  /** The namespace the forwarder runs in (the rootless one). */
  netns: string
  /** node and the forwarder program's script. */
  node: string
  script: string
  pidFile: string
  /** A word in the forwarder's command line that proves a pid is this container's (its id). */
  mark: string
}

/**
 * Listens on the host's ports and starts the forwarder with those sockets. A port taken
 * meanwhile fails with the error's words; nothing is left listening then.
 */
export async function startForwarder(spec: ForwarderSpawn, forwards: Forward[]): Promise<void> {
  if (forwards.length === 0) return
  const servers: Server[] = []
  try {
    for (const f of forwards) servers.push(await listen(f))
    const fds = servers.map((s) => (s as unknown as { _handle: { fd: number } })._handle.fd)
    const targets: ForwarderTarget[] = forwards.map((f) => ({
      host: f.targetIp,
      port: f.targetPort,
    }))
    const child = spawn(
      'nsenter',
      [`--net=${spec.netns}`, '--', spec.node, spec.script, spec.mark, JSON.stringify(targets)],
      { detached: true, stdio: ['ignore', 'ignore', 'ignore', ...fds] },
    )
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (e) =>
        reject(new Internal(`cannot start the port forwarder: ${e.message}`)),
      )
      child.once('spawn', () => resolve(child.pid as number))
    })
    child.unref()
    await writeFile(spec.pidFile, `${pid}\n`, { mode: 0o600 })
  } finally {
    // The forwarder holds its own copies; berthd's go.
    for (const s of servers) s.close()
  }
}

/** Stops a container's forwarder (its pid file says which, its command line proves it). */
export async function stopForwarder(pidFile: string, mark: string): Promise<void> {
  const pid = await ownedPid(pidFile, mark)
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // gone already
    }
  }
  await rm(pidFile, { force: true })
}
