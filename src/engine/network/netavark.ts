// netavark (Podman's network tool) and aardvark-dns, as berth uses them: berth writes the
// options of one container's setup (its networks, addresses, ports), netavark makes the
// bridge, the veth pair, the addresses, routes, NAT and port rules, and starts aardvark-dns
// for name resolution on user networks. netavark keeps no state of its own besides
// aardvark-dns's entries in its config directory, so berth records the options it passed and
// hands the same ones back at teardown.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { access, constants, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Internal } from '../errors.ts'
import { SYSTEM_PATH, execTool, type ExecResult } from './exec.ts'
import type { NetavarkPortMapping } from './ports.ts'

/** netavark's Network: one bridge network as netavark sees it. */
export interface NetavarkNetwork {
  name: string
  id: string
  driver: 'bridge'
  network_interface: string
  subnets: { subnet: string; gateway?: string }[]
  ipv6_enabled: boolean
  internal: boolean
  dns_enabled: boolean
  options?: Record<string, string>
}

/** netavark's PerNetworkOptions. */
export interface NetavarkAttachment {
  interface_name: string
  static_ips: string[]
  aliases?: string[]
  static_mac?: string
}

/** netavark's NetworkOptions: what one setup or teardown call is about. */
export interface NetavarkOptions {
  container_id: string
  container_name: string
  networks: Record<string, NetavarkAttachment>
  network_info: Record<string, NetavarkNetwork>
  port_mappings?: NetavarkPortMapping[]
  /** Upstream servers aardvark-dns asks for this container's names it does not know. */
  dns_servers?: string[]
}

/** netavark's StatusBlock for one network. */
export interface NetavarkStatus {
  dns_search_domains?: string[] | null
  dns_server_ips?: string[] | null
  interfaces?: Record<
    string,
    { mac_address: string; subnets?: { ipnet: string; gateway?: string | null }[] | null }
  > | null
}

export interface NetavarkConfig {
  /** netavark's binary (Debian: /usr/lib/podman/netavark). */
  binary: string
  /** aardvark-dns's binary (Debian: /usr/lib/podman/aardvark-dns). */
  aardvark: string
  /** netavark's config directory; aardvark-dns keeps its entries and pid under it. */
  configDir: string
  /** A lock file: one netavark at a time, across daemon restarts (netavark's iptables
   *  check-then-append steps race with each other). */
  lockFile: string
}

export const DEFAULT_NETAVARK = '/usr/lib/podman/netavark'
export const DEFAULT_AARDVARK = '/usr/lib/podman/aardvark-dns'

export class Netavark {
  constructor(readonly cfg: NetavarkConfig) {}

  /** Fails with what to install when a binary is missing. */
  async check(): Promise<void> {
    for (const [bin, pkg] of [
      [this.cfg.binary, 'netavark'],
      [this.cfg.aardvark, 'aardvark-dns'],
    ] as const) {
      try {
        await access(bin, constants.X_OK)
      } catch {
        throw new Internal(
          `${bin} not found: bridge networking needs ${pkg} (apt-get install ${pkg})`,
        )
      }
    }
  }

  /** Sets up the container's networks in the namespace at netns; one status per network. */
  async setup(netns: string, opts: NetavarkOptions): Promise<Record<string, NetavarkStatus>> {
    const r = await this.run('setup', netns, opts)
    if (r.code !== 0) throw new Internal(`network setup failed: ${netavarkError(r)}`)
    try {
      const status = JSON.parse(r.stdout) as Record<string, NetavarkStatus>
      await settleBridges(Object.values(opts.network_info).map((n) => n.network_interface))
      return status
    } catch (err) {
      // What netavark made is undone here: the caller saw no setup succeed.
      await this.teardown(netns, opts).catch(() => undefined)
      if (err instanceof Internal) throw err
      throw new Internal(`network setup: netavark answered ${JSON.stringify(r.stdout)}`, {
        cause: err,
      })
    }
  }

  /** Undoes a setup made with the same options. */
  async teardown(netns: string, opts: NetavarkOptions): Promise<void> {
    const r = await this.run('teardown', netns, opts)
    if (r.code !== 0) throw new Internal(`network teardown failed: ${netavarkError(r)}`)
  }

  private run(
    cmd: 'setup' | 'teardown',
    netns: string,
    opts: NetavarkOptions,
  ): Promise<ExecResult> {
    return execTool(
      [
        // -o: the lock stays with flock, not with aardvark-dns, which netavark may start and
        // which outlives it.
        'flock',
        '-o',
        this.cfg.lockFile,
        this.cfg.binary,
        '--config',
        this.cfg.configDir,
        '--rootless',
        'false',
        '--aardvark-binary',
        this.cfg.aardvark,
        cmd,
        netns,
      ],
      { input: JSON.stringify(opts), env: { PATH: SYSTEM_PATH } },
    )
  }

  /** The directory where aardvark-dns keeps one file per network and its pid. */
  get aardvarkDir(): string {
    return join(this.cfg.configDir, 'aardvark-dns')
  }

  /** aardvark-dns's pid when it runs, else undefined. */
  async aardvarkPid(): Promise<number | undefined> {
    const text = await readFile(join(this.aardvarkDir, 'aardvark.pid'), 'utf8').catch(() => '')
    const pid = Number.parseInt(text.trim(), 10)
    if (!Number.isInteger(pid) || pid <= 0) return undefined
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    // A zombie no longer serves; the name is in parentheses after the pid.
    if (!stat.includes('(aardvark-dns)') || / Z /.test(stat.slice(stat.lastIndexOf(')')))) {
      return undefined
    }
    return pid
  }

  /**
   * Whether the port-forwarding chain netavark made for a network is there. netavark names it
   * NETAVARK-DN- and the first 13 hex digits (upper case) of the SHA-512 of the network's name.
   */
  async portChainExists(network: string): Promise<boolean> {
    const hash = createHash('sha512').update(network).digest('hex').slice(0, 13).toUpperCase()
    const r = await execTool(['iptables', '-w', '-t', 'nat', '-S', `NETAVARK-DN-${hash}`], {
      env: { PATH: SYSTEM_PATH },
    })
    return r.code === 0
  }

  /** Forgets every name aardvark-dns would serve (only while it does not run). */
  async clearAardvark(): Promise<void> {
    await rm(this.aardvarkDir, { recursive: true, force: true })
  }

  /**
   * Starts aardvark-dns as netavark would (it daemonizes itself), for when it died while
   * containers that need it kept running.
   */
  async startAardvark(): Promise<void> {
    // Its output goes nowhere: the daemon it forks keeps its stdio open.
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(this.cfg.aardvark, ['--config', this.aardvarkDir, '-p', '53', 'run'], {
        stdio: 'ignore',
        env: { PATH: SYSTEM_PATH },
      })
      child.on('error', reject)
      child.on('exit', (c) => resolve(c ?? 1))
    })
    if (code !== 0) throw new Internal(`starting aardvark-dns failed: exit status ${code}`)
  }
}

/** netavark prints `{"error": "..."}` on stdout when it fails. */
function netavarkError(r: ExecResult): string {
  try {
    const e = JSON.parse(r.stdout) as { error?: unknown }
    if (typeof e.error === 'string') return e.error
  } catch {
    // Not JSON: fall back to what it wrote on stderr.
  }
  const lines = r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('failed to connect to syslog'))
  return lines.join('; ') || `exit status ${r.code}`
}

/** One bridge as `ip -j link show` lists it, and its ports. */
interface LinkInfo {
  ifname: string
  address?: string
  linkinfo?: { info_slave_data?: { hairpin?: boolean } }
}

/**
 * Settles what netavark 1.4 leaves undone on the given bridges once a container is on them.
 *
 * Hairpin mode on the ports that have it off (the ones netavark just made). With
 * br_netfilter a container's packet to its own published port on the host's address is
 * DNATed back to the container while still being bridged, so it must leave by the port it
 * came in on: without hairpin the bridge drops it. Docker's bridge sets the same mode.
 *
 * A MAC address of the bridge's own. A bridge given none takes the lowest of its ports',
 * so it changes whenever a container whose veth holds that lowest one starts or stops (a
 * restart does both). The other containers' ARP caches still hold the old one for the
 * gateway, and what they send to it (their DNS queries to aardvark-dns there) is lost until
 * the entry goes stale, seconds later: `docker restart api` left `web` unable to resolve
 * anything for that long. Docker gives its bridges a random MAC, and netavark does since 1.9
 * ("bridge: force static mac on bridge interface"); a MAC set by hand stays put.
 */
async function settleBridges(bridges: string[]): Promise<void> {
  for (const dev of bridges) {
    const list = await execTool(['ip', '-d', '-j', '-batch', '-'], {
      input: `link show dev ${dev}\nlink show master ${dev}\n`,
    })
    if (list.code !== 0) throw new Internal(`listing the ports of ${dev}: ${list.stderr.trim()}`)
    const [bridge, ports = []] = list.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as LinkInfo[])
    const batch = ports
      .filter((p) => p.linkinfo?.info_slave_data?.hairpin === false)
      .map((p) => `link set dev ${p.ifname} type bridge_slave hairpin on\n`)
    // The kernel's choice is one of the ports' addresses; one set by hand is none of them.
    const own = bridge?.[0]?.address
    if (own !== undefined && ports.some((p) => p.address === own)) {
      batch.push(`link set dev ${dev} address ${randomMac()}\n`)
    }
    if (batch.length === 0) continue
    // -force: a port another container's teardown removed meanwhile is no failure of this one.
    const set = await execTool(['ip', '-force', '-batch', '-'], { input: batch.join('') })
    const errors = set.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/Cannot find device|Command failed/.test(l))
    if (set.code !== 0 && errors.length > 0) {
      throw new Internal(`network setup: settling bridge ${dev}: ${errors.join('; ')}`)
    }
  }
}

/** A random unicast, locally administered MAC address. */
function randomMac(): string {
  const b = randomBytes(6)
  b[0] = ((b[0] as number) & 0xfc) | 0x02
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')
}
