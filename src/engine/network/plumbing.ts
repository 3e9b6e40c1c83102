// The bridge's plumbing, done by berth with iproute2 batches, berth's own nftables table and
// aardvark-dns: per container start one `ip -batch` inside the new namespace (loopback, the
// veth pair with its host end created straight in berthd's namespace, address, default route),
// one `ip -batch` on the host (the bridge when it is missing, the port on the bridge with
// hairpin on), and one `nft -f -` only when ports are published or the network's rules are not
// written yet (once per network per daemon). Teardown is one `ip -batch` and at most one `nft`.
// netavark 1.4, which did this before, ran about 32 `iptables` processes per start.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { access, constants } from 'node:fs/promises'
import { Internal } from '../errors.ts'
import { Aardvark } from './aardvark.ts'
import { SYSTEM_PATH, execTool, inNetns } from './exec.ts'
import type { NetavarkAttachment, NetavarkNetwork, NetavarkOptions } from './netavark.ts'
import { createNetns, netDevices } from './netns.ts'
import {
  baseDecls,
  baseRules,
  dropTable,
  networkChains,
  networkDown,
  networkUp,
  portsAdd,
  portsDel,
  type NftNetwork,
  type NftPort,
} from './nft.ts'

export interface PlumbingConfig {
  /** aardvark-dns's binary (Debian: /usr/lib/podman/aardvark-dns). */
  aardvark: string
  /** aardvark-dns's config directory (one file per network, and its pid). */
  aardvarkDir: string
  /** The network namespace the bridges live in, when not this process's (berth without root:
   *  its own); ip, nft and aardvark-dns run there. */
  netns?: string
  /**
   * netavark as an older berthd ran it (its binary, config directory and lock file): set-ups
   * it made for containers still running are taken down by it, so its iptables rules go too.
   */
  netavark?: { binary: string; configDir: string; lockFile: string }
}

/** A random unicast, locally administered MAC address. */
function randomMac(): string {
  const b = randomBytes(6)
  b[0] = ((b[0] as number) & 0xfc) | 0x02
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')
}

/** How a teardown ends: the network's last container, and the last of every network. */
export interface TeardownScope {
  /** No other container is on this network: its bridge and rules go. */
  last: boolean
  /** No other container is on any bridge network: berth's nftables table goes. */
  lastOfAll: boolean
}

/** The host end of a container's veth: unique per container and interface, at most 15 bytes. */
export function vethName(containerId: string, ifname: string): string {
  return `veth${containerId.slice(0, 9)}${ifname.replace(/^eth/, '')}`
}

function one(o: NetavarkOptions): { name: string; att: NetavarkAttachment; net: NetavarkNetwork } {
  const [name, att] = Object.entries(o.networks)[0] ?? []
  const net = name === undefined ? undefined : o.network_info[name]
  if (name === undefined || !att || !net) throw new Internal('network setup names no network')
  return { name, att, net }
}

function nftNetwork(net: NetavarkNetwork): NftNetwork {
  return {
    device: net.network_interface,
    subnet: net.subnets[0]?.subnet ?? '',
    internal: net.internal,
  }
}

/** The IPv6 side of an --ipv6 network (its second subnet), for `table ip6 berth`. */
function nftNetwork6(net: NetavarkNetwork): NftNetwork | undefined {
  const s6 = net.subnets.find((s) => s.subnet.includes(':'))
  if (!net.ipv6_enabled || !s6) return undefined
  return { device: net.network_interface, subnet: s6.subnet, internal: net.internal }
}

/** The container's IPv6 address in a setup, if its network has IPv6. */
function address6(o: NetavarkOptions): string | undefined {
  const { att, net } = one(o)
  return net.ipv6_enabled ? att.static_ips.find((a) => a.includes(':')) : undefined
}

/**
 * The setup's published ports, one per host port (netavark's ranges expanded): with ip an
 * IPv4 address those on every address and on IPv4 ones, with an IPv6 address those on every
 * address and on IPv6 ones.
 */
export function nftPorts(o: NetavarkOptions, ip: string): NftPort[] {
  const v6 = ip.includes(':')
  return (o.port_mappings ?? [])
    .filter((m) => m.host_ip === '' || m.host_ip.includes(':') === v6)
    .flatMap((m) =>
      Array.from({ length: m.range }, (_, i) => ({
        hostIp: m.host_ip,
        proto: m.protocol,
        hostPort: m.host_port + i,
        ip,
        containerPort: m.container_port + i,
      })),
    )
}

export class Plumbing {
  readonly aardvark: Aardvark
  /** Bridges whose rules this daemon wrote (each network's once per daemon). */
  private readonly ready = new Set<string>()

  constructor(readonly cfg: PlumbingConfig) {
    this.aardvark = new Aardvark(cfg.aardvark, cfg.aardvarkDir, cfg.netns)
  }

  /** Fails with what to install when a program is missing. */
  async check(): Promise<void> {
    const need: [string, string][] = [
      ['/usr/sbin/nft', 'nftables'],
      ['/usr/sbin/ip', 'iproute2'],
      [this.cfg.aardvark, 'aardvark-dns'],
    ]
    for (const [bin, pkg] of need) {
      const found = bin.startsWith('/usr/sbin/')
        ? await Promise.any(
            ['/usr/sbin/', '/sbin/', '/usr/bin/', '/bin/'].map((d) =>
              access(d + bin.slice('/usr/sbin/'.length), constants.X_OK),
            ),
          ).then(
            () => true,
            () => false,
          )
        : await access(bin, constants.X_OK).then(
            () => true,
            () => false,
          )
      if (!found) {
        throw new Internal(
          `${bin} not found: bridge networking needs ${pkg} (apt-get install ${pkg})`,
        )
      }
    }
  }

  /**
   * Puts the container on one network: with create, the namespace at netns is made too (in
   * the same process as its side of the work). On failure what was made is taken down.
   */
  async setup(netns: string, o: NetavarkOptions, opts: { create?: boolean } = {}): Promise<void> {
    const { name, att, net } = one(o)
    const subnet = net.subnets[0]
    const ip = att.static_ips[0]
    if (!subnet || !ip) throw new Internal(`network ${name}: no subnet or address`)
    const prefix = subnet.subnet.split('/')[1] ?? '32'
    const ifname = att.interface_name
    const veth = vethName(o.container_id, ifname)
    const br = net.network_interface
    const mtu = net.options?.mtu ? ` mtu ${net.options.mtu}` : ''
    const mac = att.static_mac ? ` address ${att.static_mac}` : ''
    const index = Number(ifname.replace(/^eth/, '')) || 0
    const n6 = nftNetwork6(net)
    const ip6 = address6(o)
    const s6 = net.subnets.find((x) => x.subnet.includes(':'))
    const prefix6 = s6?.subnet.split('/')[1] ?? '64'
    const inside = [
      `link add ${ifname}${mtu}${mac} type veth peer name ${veth}${mtu} netns ${this.cfg.netns ?? process.pid}`,
      `addr add ${ip}/${prefix} dev ${ifname}`,
      // nodad: the address is berth's to give, so it works at once (no duplicate detection).
      ...(ip6 ? [`addr add ${ip6}/${prefix6} dev ${ifname} nodad`] : []),
      `link set ${ifname} up`,
    ]
    // The first network's gateway is the default route; the others' are there for when it goes.
    if (!net.internal && subnet.gateway) {
      inside.push(`route add default via ${subnet.gateway} dev ${ifname} metric ${100 + index}`)
    }
    if (!net.internal && ip6 && s6?.gateway) {
      inside.push(`route add default via ${s6.gateway} dev ${ifname} metric ${100 + index}`)
    }
    try {
      if (opts.create) {
        await createNetns(netns, { batch: ['link set lo up', ...inside].join('\n') + '\n' })
      } else {
        await this.run(
          ['nsenter', `--net=${netns}`, 'ip', '-batch', '-'],
          inside.join('\n') + '\n',
          `network setup in ${netns}`,
        )
      }
      const host: string[] = []
      const fresh = !(await netDevices(this.cfg.netns)).has(br)
      if (fresh) {
        host.push(
          // An address of its own: one the kernel picks is its lowest port's, which changes
          // as containers come and go, and the others' ARP caches keep the old one for the
          // gateway (their DNS queries to aardvark-dns there get lost until it goes stale).
          // Docker gives its bridges a random one too.
          `link add ${br}${mtu} address ${randomMac()} type bridge`,
          `addr add ${subnet.gateway}/${prefix} dev ${br}`,
          ...(n6 && s6?.gateway ? [`addr add ${s6.gateway}/${prefix6} dev ${br} nodad`] : []),
          `link set ${br} up`,
        )
      }
      host.push(
        `link set ${veth} master ${br}`,
        // Docker's bridge ports have it: a container reaches its own published port.
        `link set dev ${veth} type bridge_slave hairpin on`,
        `link set ${veth} up`,
      )
      await this.run(['ip', '-batch', '-'], host.join('\n') + '\n', `network setup on ${br}`)
      if (fresh) await this.sysctls(br, n6 !== undefined)
      let script = ''
      const rules = fresh || !this.ready.has(br)
      if (rules) {
        const n = nftNetwork(net)
        script += networkChains(n) + baseRules() + networkUp(n)
      }
      const ports = nftPorts(o, ip)
      if (ports.length > 0) script += (script === '' ? baseDecls() : '') + portsAdd(ports)
      // The IPv6 side in `table ip6 berth`, in the same atomic batch.
      const ports6 = n6 && ip6 ? nftPorts(o, ip6) : []
      if (n6 && rules) {
        script += networkChains(n6, 'ip6') + baseRules('ip6') + networkUp(n6, 'ip6')
      }
      if (ports6.length > 0) script += baseDecls('ip6') + portsAdd(ports6, 'ip6')
      if (script !== '')
        await this.run(['nft', '-f', '-'], script, `network setup of ${br}'s rules`)
      this.ready.add(br)
      if (net.dns_enabled && subnet.gateway) {
        await this.aardvark.add(name, subnet.gateway, {
          id: o.container_id,
          ipv4: [ip],
          ...(ip6 ? { ipv6: [ip6] } : {}),
          names: [o.container_name, ...(att.aliases ?? [])],
          ...(o.dns_servers?.length ? { dnsServers: o.dns_servers } : {}),
        })
      }
    } catch (err) {
      // The bridge and the network's rules stay: the next start uses them, the network's
      // last teardown takes them.
      await this.undo(o, ip).catch(() => undefined)
      throw err
    }
  }

  /** Takes the container off one network (its namespace is not needed: it may be gone). */
  async teardown(o: NetavarkOptions, scope: TeardownScope): Promise<void> {
    const { net } = one(o)
    const br = net.network_interface
    const veth = vethName(o.container_id, one(o).att.interface_name)
    // Deleting the host end takes the container's end with it.
    await this.ipForce(
      scope.last ? [`link del ${veth}`, `link del ${br}`] : [`link del ${veth}`],
      `network teardown on ${br}`,
    )
    const ports = nftPorts(o, one(o).att.static_ips[0] ?? '')
    const n = nftNetwork(net)
    let script = ''
    if (scope.last) script += networkChains(n)
    if (ports.length > 0 || scope.last) script += baseDecls()
    if (ports.length > 0) script += portsDel(ports)
    if (scope.last) {
      script += networkDown(n)
      this.ready.delete(br)
    }
    if (scope.lastOfAll) script += dropTable()
    const n6 = nftNetwork6(net)
    const ip6 = address6(o)
    const ports6 = n6 && ip6 ? nftPorts(o, ip6) : []
    if (n6 && scope.last) script += networkChains(n6, 'ip6')
    if (n6 && (ports6.length > 0 || scope.last)) script += baseDecls('ip6')
    if (ports6.length > 0) script += portsDel(ports6, 'ip6')
    if (n6 && scope.last) script += networkDown(n6, 'ip6')
    // The ip6 table goes with the last container of all too (there or not).
    if (scope.lastOfAll) script += dropTable('ip6')
    if (script !== '') {
      await this.run(['nft', '-f', '-'], script, `network teardown of ${br}'s rules`)
    }
    if (net.dns_enabled) await this.aardvark.remove(one(o).name, o.container_id)
  }

  /**
   * Whether a running container's set-up was made by netavark (a berthd before berth did its
   * own plumbing): the bridge is there but not the host end of the veth berth would have
   * named (netavark names its own). Reads the device list only (no process when rootful).
   */
  async madeByNetavark(o: NetavarkOptions): Promise<boolean> {
    if (!this.cfg.netavark) return false
    const { att, net } = one(o)
    const devices = await netDevices(this.cfg.netns)
    return (
      devices.has(net.network_interface) &&
      !devices.has(vethName(o.container_id, att.interface_name))
    )
  }

  /**
   * Takes down a set-up netavark made, with netavark (its veth, its iptables rules and chains,
   * its aardvark-dns entry), under the lock the older berthd used. netns is the container's.
   */
  async netavarkTeardown(netns: string, o: NetavarkOptions): Promise<void> {
    const nv = this.cfg.netavark
    if (!nv) throw new Internal('netavark is not configured')
    const argv = [
      'flock',
      '-o',
      nv.lockFile,
      nv.binary,
      '--config',
      nv.configDir,
      '--rootless',
      'false',
      '--aardvark-binary',
      this.cfg.aardvark,
      'teardown',
      netns,
    ]
    const r = await execTool(argv, { input: JSON.stringify(o), env: { PATH: SYSTEM_PATH } })
    if (r.code !== 0) {
      throw new Internal(`netavark teardown: ${r.stderr.trim() || `exit status ${r.code}`}`)
    }
  }

  /** What a failed setup made for this container alone. */
  private async undo(o: NetavarkOptions, ip: string): Promise<void> {
    const { name, att, net } = one(o)
    await this.ipForce([`link del ${vethName(o.container_id, att.interface_name)}`], 'undo')
    const ports = nftPorts(o, ip)
    if (ports.length > 0) await this.run(['nft', '-f', '-'], baseDecls() + portsDel(ports), 'undo')
    const ip6 = address6(o)
    const ports6 = ip6 ? nftPorts(o, ip6) : []
    if (ports6.length > 0) {
      await this.run(['nft', '-f', '-'], baseDecls('ip6') + portsDel(ports6, 'ip6'), 'undo')
    }
    if (net.dns_enabled) await this.aardvark.remove(name, o.container_id)
  }

  private async run(argv: string[], input: string, what: string): Promise<void> {
    const r = await execTool(inNetns(this.cfg.netns, argv), { input, env: { PATH: SYSTEM_PATH } })
    if (r.code !== 0) throw new Internal(`${what}: ${r.stderr.trim() || `exit status ${r.code}`}`)
  }

  /** `ip -force -batch -` where a device already gone is no failure (teardown). */
  private async ipForce(lines: string[], what: string): Promise<void> {
    const r = await execTool(inNetns(this.cfg.netns, ['ip', '-force', '-batch', '-']), {
      input: lines.join('\n') + '\n',
    })
    const errors = r.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/Cannot find device|Command failed/.test(l))
    if (r.code !== 0 && errors.length > 0) throw new Internal(`${what}: ${errors.join('; ')}`)
  }

  /**
   * Published ports answer on 127.0.0.1 (nft's output chain sends them to the bridge), and
   * the host routes for its containers. In this process's namespace they are written from
   * the main thread: /proc/sys/net follows the writing thread's namespace, and only the main
   * thread is sure to be in berthd's (an in-process setns moves that thread alone).
   */
  private async sysctls(br: string, ipv6: boolean): Promise<void> {
    const files = [`/proc/sys/net/ipv4/conf/${br}/route_localnet`, '/proc/sys/net/ipv4/ip_forward']
    // As dockerd with IPv6 networks: the host forwards IPv6 (which also makes interfaces with
    // accept_ra=1 ignore router advertisements, as it does under Docker).
    if (ipv6) files.push('/proc/sys/net/ipv6/conf/all/forwarding')
    if (this.cfg.netns === undefined) {
      for (const f of files) writeFileSync(f, '1')
      return
    }
    const sh = files.map((f) => `echo 1 > ${f}`).join(' && ')
    await this.run(['sh', '-c', sh], '', `network setup of ${br}`)
  }
}
