// aardvark-dns (Podman's DNS server for container names), driven as netavark drives it: one
// file per network in its config directory (first line: the addresses it listens on; then one
// line per container: id, IPv4 addresses, IPv6 addresses, names, upstream servers), SIGHUP to
// read them again, and a daemon that starts on the first network with names and is stopped
// when the last file goes.
import { spawn } from 'node:child_process'
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Internal } from '../errors.ts'
import { SYSTEM_PATH, inNetns } from './exec.ts'

/** One container's line in a network's file. */
export interface AardvarkEntry {
  id: string
  ipv4: string[]
  /** Its IPv6 addresses (--ipv6 networks): aardvark-dns answers AAAA queries with them. */
  ipv6?: string[]
  names: string[]
  /** Upstream servers for this container's lookups of names aardvark-dns does not know. */
  dnsServers?: string[]
}

const PID_FILE = 'aardvark.pid'

export class Aardvark {
  constructor(
    readonly binary: string,
    /** The config directory: one file per network, and the pid file. */
    readonly dir: string,
    /** The network namespace it serves in, when not this process's. */
    readonly netns?: string,
  ) {}

  /** Adds (or replaces) a container's entry on a network listening on gateway, then reloads. */
  async add(network: string, gateway: string, e: AardvarkEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const lines = (await this.lines(network)).filter((l) => !l.startsWith(`${e.id} `))
    const dns = e.dnsServers?.length ? ` ${e.dnsServers.join(',')}` : ''
    lines.push(`${e.id} ${e.ipv4.join(',')} ${(e.ipv6 ?? []).join(',')} ${e.names.join(',')}${dns}`)
    await this.write(network, [gateway, ...lines])
    await this.reload()
  }

  /** Takes a container's entry away; the network's file goes with its last entry. */
  async remove(network: string, id: string): Promise<void> {
    const all = await this.lines(network)
    const lines = all.filter((l) => !l.startsWith(`${id} `))
    if (lines.length === all.length) return
    const head = await this.head(network)
    if (lines.length > 0) await this.write(network, [head, ...lines])
    else await rm(join(this.dir, network), { force: true })
    await this.reload()
  }

  /** aardvark-dns's pid when it runs, else undefined. */
  async pid(): Promise<number | undefined> {
    const text = await readFile(join(this.dir, PID_FILE), 'utf8').catch(() => '')
    const pid = Number.parseInt(text.trim(), 10)
    if (!Number.isInteger(pid) || pid <= 0) return undefined
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    // A zombie no longer serves; the name is in parentheses after the pid.
    if (!stat.includes('(aardvark-dns)') || / Z /.test(stat.slice(stat.lastIndexOf(')')))) {
      return undefined
    }
    return pid
  }

  /** Forgets every name (only while it does not run). */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }

  /** Starts it (it daemonizes itself and writes its pid file). */
  async start(): Promise<void> {
    // Its output goes nowhere: the daemon it forks keeps its stdio open.
    const code = await new Promise<number>((resolve, reject) => {
      const [cmd, ...args] = inNetns(this.netns, [
        this.binary,
        ...['--config', this.dir, '-p', '53', 'run'],
      ])
      const child = spawn(cmd as string, args, { stdio: 'ignore', env: { PATH: SYSTEM_PATH } })
      child.on('error', reject)
      child.on('exit', (c) => resolve(c ?? 1))
    })
    if (code !== 0) throw new Internal(`starting aardvark-dns failed: exit status ${code}`)
  }

  /** Makes it read its files again: started when it is not running, stopped when none is left. */
  private async reload(): Promise<void> {
    const files = (await readdir(this.dir).catch(() => [])).filter((f) => f !== PID_FILE)
    const pid = await this.pid()
    if (files.length === 0) {
      if (pid !== undefined) process.kill(pid, 'SIGTERM')
      await rm(join(this.dir, PID_FILE), { force: true })
      return
    }
    if (pid === undefined) await this.start()
    else process.kill(pid, 'SIGHUP')
  }

  private async lines(network: string): Promise<string[]> {
    const text = await readFile(join(this.dir, network), 'utf8').catch(() => '')
    return text
      .split('\n')
      .slice(1)
      .filter((l) => l.trim() !== '')
  }

  private async head(network: string): Promise<string> {
    const text = await readFile(join(this.dir, network), 'utf8').catch(() => '')
    return text.split('\n')[0] ?? ''
  }

  private async write(network: string, lines: string[]): Promise<void> {
    // The temporary file stays out of the directory aardvark-dns reads.
    const tmp = join(this.dir, '..', `.aardvark-${network}.tmp`)
    await writeFile(tmp, lines.join('\n') + '\n')
    await rename(tmp, join(this.dir, network))
  }
}
