// The Debian mirror made reachable from the build containers of an engine that lives in a network
// namespace with no way out (the build bench's berthd and dockerd): apt in a RUN step is given
// the predefined `http_proxy` build arg pointing at the namespace's bridge gateway, where a
// listener (a node process entered there with nsenter) forwards each connection over a unix
// socket (not bound to a network namespace) to this process, which connects it to the mirror's
// host on port 80. apt sends a proxy absolute-form requests (`GET http://host/path`), which the
// mirror's HTTP server accepts, so the bytes pass through unchanged. Docker's builders and berth
// keep proxy args out of the cache key and the image, so the images are the same as with a direct
// route. Nothing is left behind: the listener ends by its pid, the socket's folder is removed.
import { spawn } from 'node:child_process'
import { lookup } from 'node:dns/promises'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface MirrorRelay {
  stop(): Promise<void>
}

/** Plain JS run by `node -e` inside the namespace: listen on 0.0.0.0:PORT, forward to SOCKET. */
const INSIDE = `
const net = require('node:net')
const [port, socket] = process.argv.slice(1)
net.createServer((c) => {
  const u = net.connect(socket)
  c.pipe(u).on('error', () => c.destroy())
  u.pipe(c).on('error', () => u.destroy())
  c.on('error', () => u.destroy())
  u.on('error', () => c.destroy())
}).listen(Number(port), '0.0.0.0', () => console.log('ready'))
`

/** The host of the Debian mirror this machine's apt uses (deb822 .sources or one-line lists). */
export async function aptMirrorHost(): Promise<string> {
  const texts: string[] = []
  for (const f of ['/etc/apt/sources.list']) texts.push(await readFile(f, 'utf8').catch(() => ''))
  const dir = '/etc/apt/sources.list.d'
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (f.endsWith('.sources') || f.endsWith('.list')) {
      texts.push(await readFile(join(dir, f), 'utf8').catch(() => ''))
    }
  }
  for (const t of texts) {
    for (const m of t.matchAll(/^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(http:\/\/[^\s]+)/gm)) {
      const url = new URL(m[1]!)
      if (!url.pathname.includes('-security')) return url.host
    }
  }
  return 'deb.debian.org'
}

/**
 * Listens on 0.0.0.0:`port` inside the network namespace `nsPath` (a /proc/PID/ns/net or a
 * bind-mounted namespace file) and connects what arrives to `mirrorHost` port 80 from here.
 */
export async function relayMirrorIntoNetns(
  nsPath: string,
  port: number,
  mirrorHost: string,
): Promise<MirrorRelay> {
  const { address } = await lookup(mirrorHost)
  const dir = await mkdtemp(join(tmpdir(), 'bt-mirror-'))
  const socket = join(dir, 'relay.sock')
  const open = new Set<net.Socket>()
  const server = net.createServer((c) => {
    const u = net.connect(80, address)
    open.add(c).add(u)
    c.on('close', () => open.delete(c))
    u.on('close', () => open.delete(u))
    c.pipe(u)
    u.pipe(c)
    c.on('error', () => u.destroy())
    u.on('error', () => c.destroy())
    c.on('close', () => u.destroy())
    u.on('close', () => c.destroy())
  })
  await new Promise<void>((res, rej) => server.listen(socket, res).once('error', rej))
  const child = spawn(
    'nsenter',
    [`--net=${nsPath}`, '--', process.execPath, '-e', INSIDE, String(port), socket],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
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
      child.once('exit', (code) => reject(new Error(`the mirror relay exited (${code}): ${err}`)))
    })
  } catch (e) {
    await stop()
    throw e
  }
  return { stop }
}
