// Test helpers for networking with real namespaces and real traffic, kept off the host:
// the test process moves into a scratch network namespace of its own (its bridges, rules and
// ports go when it exits), with a peer namespace on a veth pair standing for the rest of the
// world; servers and clients run inside namespaces; and networkLeftovers() lists whatever of
// berth's a test failed to take down.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import net from 'node:net'
import dgram from 'node:dgram'
import { join } from 'node:path'
import koffi from 'koffi'
import { execTool } from './exec.ts'
import { createNetns, removeNetns } from './netns.ts'
import { NFT_TABLE } from './nft.ts'

const CLONE_NEWNET = 0x40000000

/** The scratch "host": its own address, and a peer reached through it. */
export interface ScratchNet {
  /** The host's address on the link to the peer (a host address that is not loopback). */
  hostIp: string
  /** The peer's address: a machine outside, for outbound NAT. */
  peerIp: string
  peerNetns: string
  dir: string
  close(): Promise<void>
}

async function must(argv: string[]): Promise<string> {
  const r = await execTool(argv)
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim()}`)
  return r.stdout
}

/**
 * Moves this process into a network namespace of its own with only loopback up, once: an
 * engine made in-process then puts its bridge, rules and published ports there, never on the
 * host, and nothing is left when the process ends.
 */
export async function isolateNetwork(): Promise<void> {
  if (isolated) return
  const libc = koffi.load('libc.so.6')
  const unshare = libc.func('int unshare(int flags)')
  if ((unshare(CLONE_NEWNET) as number) !== 0) throw new Error('unshare(CLONE_NEWNET) failed')
  isolated = true
  await must(['ip', 'link', 'set', 'lo', 'up'])
}
let isolated = false

/**
 * Moves this process into a new network namespace. Only the main thread moves, which is
 * where Node makes its sockets and spawns its children, so both land in the new namespace.
 */
export async function enterScratchNetns(): Promise<ScratchNet> {
  const libc = koffi.load('libc.so.6')
  const unshare = libc.func('int unshare(int flags)')
  if ((unshare(CLONE_NEWNET) as number) !== 0) throw new Error('unshare(CLONE_NEWNET) failed')
  await must(['ip', 'link', 'set', 'lo', 'up'])
  const dir = await mkdtemp('/tmp/bt-net-')
  const peerNetns = join(dir, 'peer')
  await createNetns(peerNetns, { loopback: true })
  const hostIp = '198.51.100.1'
  const peerIp = '198.51.100.2'
  await must([
    'ip',
    'link',
    'add',
    'uplink0',
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    peerNetns,
  ])
  await must(['ip', 'addr', 'add', `${hostIp}/24`, 'dev', 'uplink0'])
  await must(['ip', 'link', 'set', 'uplink0', 'up'])
  await must(['nsenter', `--net=${peerNetns}`, 'ip', 'addr', 'add', `${peerIp}/24`, 'dev', 'eth0'])
  await must(['nsenter', `--net=${peerNetns}`, 'ip', 'link', 'set', 'eth0', 'up'])
  return {
    hostIp,
    peerIp,
    peerNetns,
    dir,
    async close() {
      await removeNetns(peerNetns)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

// A server that answers every TCP connection and UDP datagram with its tag and the client's
// address, so a test sees both that it got through and what NAT made of the source.
const SERVER = `
const [proto, host, port, tag] = process.argv.slice(1)
const done = () => process.stdout.write('ready\\n')
if (proto === 'udp') {
  const s = require('dgram').createSocket('udp4')
  s.on('message', (m, r) => s.send(tag + ' ' + r.address + '\\n', r.port, r.address))
  s.bind(Number(port), host, done)
} else {
  require('net').createServer((c) => { c.on('error', () => {}); c.end(tag + ' ' + c.remoteAddress + '\\n') })
    .listen(Number(port), host, done)
}`

const CLIENT = `
const [proto, host, port] = process.argv.slice(1)
const fail = (e) => { process.stdout.write('error ' + (e.code || e.message) + '\\n'); process.exit(0) }
setTimeout(() => fail(new Error('timeout')), 3000)
if (proto === 'udp') {
  const s = require('dgram').createSocket('udp4')
  s.on('message', (m) => { process.stdout.write(m.toString()); process.exit(0) })
  s.on('error', fail)
  s.send('x', Number(port), host)
} else {
  const c = require('net').connect(Number(port), host)
  let out = ''
  c.on('data', (d) => (out += d)); c.on('end', () => { process.stdout.write(out); process.exit(0) }); c.on('error', fail)
}`

export interface Server {
  stop(): void
}

/** Starts an answering server inside a namespace (or in this one, without netns). */
export async function startServer(
  netns: string | undefined,
  proto: 'tcp' | 'udp',
  host: string,
  port: number,
  tag: string,
): Promise<Server> {
  const argv = [process.execPath, '-e', SERVER, proto, host, String(port), tag]
  const child: ChildProcess = netns
    ? spawn('nsenter', [`--net=${netns}`, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)))
  })
  return { stop: () => child.kill('SIGKILL') }
}

/** Connects from inside a namespace; the server's answer, or `error CODE`. */
export async function ask(
  netns: string,
  proto: 'tcp' | 'udp',
  host: string,
  port: number,
): Promise<string> {
  const r = await execTool([
    'nsenter',
    `--net=${netns}`,
    process.execPath,
    '-e',
    CLIENT,
    proto,
    host,
    String(port),
  ])
  return r.stdout.trim()
}

/** Connects from this process's namespace; the server's answer, or `error CODE`. */
export function askHere(proto: 'tcp' | 'udp', host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish('error timeout'), 3000)
    let done = false
    const finish = (s: string) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve(s.trim())
    }
    if (proto === 'udp') {
      const s = dgram.createSocket('udp4')
      s.on('message', (m) => {
        s.close()
        finish(m.toString())
      })
      s.on('error', (e: NodeJS.ErrnoException) => finish(`error ${e.code ?? e.message}`))
      s.send('x', port, host)
      return
    }
    const c = net.connect(port, host)
    let out = ''
    c.on('data', (d) => (out += d.toString()))
    c.on('end', () => finish(out))
    c.on('error', (e: NodeJS.ErrnoException) => finish(`error ${e.code ?? e.message}`))
  })
}

/** Resolves a name with busybox's nslookup against server, from inside a namespace. */
export async function lookup(netns: string, name: string, server: string): Promise<string[]> {
  const r = await execTool([
    'nsenter',
    `--net=${netns}`,
    'busybox',
    'nslookup',
    '-type=a',
    name,
    server,
  ])
  const out: string[] = []
  let inAnswer = false
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('Name:')) inAnswer = true
    const m = /^Address:\s*([0-9.]+)$/.exec(line.trim())
    if (inAnswer && m) out.push(m[1] as string)
  }
  return out
}

/** Runs a command inside a namespace; its stdout. */
export async function inNetns(netns: string, argv: string[]): Promise<string> {
  return must(['nsenter', `--net=${netns}`, ...argv])
}

/**
 * What berth made and did not take down, in this process's network namespace and on the
 * machine: bridge devices named berth*, berth's nftables table, netavark's per-network chains
 * and per-container port rules (berth before its own plumbing), namespace files still mounted
 * under a berth root, and aardvark-dns processes serving a berth root. netavark's shared
 * skeleton chains (NETAVARK_FORWARD, NETAVARK-HOSTPORT-*) hold no rule of berth's once
 * everything is down; they count only with `skeleton` (the host's namespace).
 */
export async function networkLeftovers(
  root?: string,
  opts: { skeleton?: boolean } = {},
): Promise<string[]> {
  const ours = (p: string) => (root === undefined ? true : p.startsWith(root + '/'))
  const out: string[] = []
  const devs = await readFile('/proc/net/dev', 'utf8')
  for (const line of devs.split('\n').slice(2)) {
    const name = line.split(':')[0]?.trim() ?? ''
    if (name.startsWith('berth')) out.push(`device ${name}`)
  }
  // netavark drives iptables (nf_tables here); the legacy tables are looked at too, in case
  // a machine's iptables points there. A missing iptables-legacy-save reads as empty.
  for (const tool of ['iptables-save', 'iptables-legacy-save']) {
    const save = await execTool([tool]).catch(() => ({ stdout: '' }))
    const name = tool.replace(/-save$/, '')
    let table = ''
    for (const line of save.stdout.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1)
      if (/^:NETAVARK-(DN-)?[0-9A-F]{13} /.test(line))
        out.push(`${name} chain ${line.slice(1).split(' ')[0]}`)
      else if (/^-A .*(dnat name: |-j NETAVARK-(DN-)?[0-9A-F]{13})/.test(line))
        out.push(`${name} rule ${line}`)
      else if (opts.skeleton && /^:NETAVARK/.test(line))
        out.push(`${name} ${table} chain ${line.slice(1).split(' ')[0]}`)
      else if (opts.skeleton && /^-A .*NETAVARK/.test(line))
        out.push(`${name} ${table} rule ${line}`)
    }
  }
  // berth's own nftables table (plumbing.ts); it goes with the last container on a bridge.
  const tables = await execTool(['nft', 'list', 'tables']).catch(() => ({ stdout: '' }))
  for (const line of tables.stdout.split('\n')) {
    if (line.trim() === `table ip ${NFT_TABLE}` || line.trim() === `table ip6 ${NFT_TABLE}`)
      out.push(`nftables ${line.trim()}`)
  }
  const mounts = await readFile('/proc/self/mountinfo', 'utf8')
  for (const line of mounts.split('\n')) {
    const f = line.split(' ')
    const fstype = f[f.indexOf('-') + 1]
    if (fstype === 'nsfs' && /\/network\/netns\//.test(f[4] ?? '') && ours(f[4] ?? ''))
      out.push(`namespace ${f[4]}`)
  }
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    const conf = cmd.split('\0').find((a) => a.includes('/network/netavark')) ?? ''
    if (cmd.includes('aardvark-dns') && conf !== '' && ours(conf)) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
      if (!/\) Z /.test(stat)) out.push(`process ${pid} ${cmd.replace(/\0/g, ' ').trim()}`)
    }
  }
  return out
}
