// A registry on the host's loopback made reachable from inside another network namespace (a peer
// dockerd's, which has only its own loopback) at the same HOST:PORT, so both engines name the
// registry alike (localhost:PORT, insecure for both without any flag). A unix socket is not bound
// to a network namespace, so it carries the bytes across: a listener on 127.0.0.1:PORT inside the
// namespace (a node process entered there with nsenter) forwards each connection to a unix
// socket, and this process forwards that to the registry. Nothing is left on the host: the
// relay's process is ended by its pid, and the socket lives in a temporary folder removed here.
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface NetnsRelay {
  stop(): Promise<void>
}

/** Plain JS run by `node -e` inside the namespace: listen on HOST:PORT, forward to SOCKET. */
const INSIDE = `
const net = require('node:net')
const [host, port, socket] = process.argv.slice(1)
net.createServer((c) => {
  const u = net.connect(socket)
  c.pipe(u).on('error', () => c.destroy())
  u.pipe(c).on('error', () => u.destroy())
  c.on('error', () => u.destroy())
  u.on('error', () => c.destroy())
}).listen(Number(port), host, () => console.log('ready'))
`

function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b)
  b.pipe(a)
  a.on('error', () => b.destroy())
  b.on('error', () => a.destroy())
  a.on('close', () => b.destroy())
  b.on('close', () => a.destroy())
}

export interface Endpoint {
  host: string
  port: number
}

/**
 * Listens on `listen` inside the network namespace `netns` (a /proc/PID/ns/net or a bind-mounted
 * namespace file) and connects each connection that arrives to `target` from this process.
 */
export async function relayAcross(
  netns: string,
  listen: Endpoint,
  target: Endpoint,
): Promise<NetnsRelay> {
  const dir = await mkdtemp(join(tmpdir(), 'bt-relay-'))
  const socket = join(dir, 'relay.sock')
  const open = new Set<net.Socket>()
  const server = net.createServer((c) => {
    const u = net.connect(target.port, target.host)
    open.add(c).add(u)
    c.on('close', () => open.delete(c))
    u.on('close', () => open.delete(u))
    pipeBoth(c, u)
  })
  await new Promise<void>((res, rej) => server.listen(socket, res).once('error', rej))
  const inside = [process.execPath, '-e', INSIDE, listen.host, String(listen.port), socket]
  const child = spawn('nsenter', [`--net=${netns}`, '--', ...inside], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((res) => child.once('exit', () => res()))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
    for (const s of open) s.destroy()
    await new Promise<void>((res) => server.close(() => res()))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await new Promise<void>((resolve, reject) => {
      let err = ''
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
      createInterface({ input: child.stdout! }).once('line', () => resolve())
      child.once('exit', (code) => reject(new Error(`the relay exited (${code}): ${err}`)))
    })
  } catch (e) {
    await stop()
    throw e
  }
  return { stop }
}

/**
 * Makes 127.0.0.1:`port` inside the network namespace of process `pid` reach 127.0.0.1:`port`
 * here. Brings the namespace's loopback up (a fresh namespace's is down).
 */
export async function relayIntoNetns(pid: number, port: number): Promise<NetnsRelay> {
  const ns = `/proc/${pid}/ns/net`
  await run('nsenter', [`--net=${ns}`, '--', 'ip', 'link', 'set', 'lo', 'up'])
  const loopback = { host: '127.0.0.1', port }
  return relayAcross(ns, loopback, loopback)
}
