// berth's own nftables table (`table ip berth`), as the text of `nft -f -` batches. Pure: no
// I/O. One table holds everything: base chains at the forward, prerouting, output and
// postrouting hooks that look up sets and maps, so that a network's rules are a few chains and
// map elements added once when its bridge comes up, and a container's published ports are
// elements of two maps (one `nft` call per start, none without ports). Every batch is atomic,
// and the ones that take things away first add what they delete, so that they succeed
// whether or not it is there (Debian 12's nft 1.0.6 has no `destroy`).

export const NFT_TABLE = 'berth'

/**
 * The table's family: `ip` for IPv4, `ip6` for the IPv6 side of --ipv6 networks. Two tables
 * of one shape rather than one `inet` table: the IPv4 table's format stays as running
 * containers of an older berthd left it, and each map's keys are of one address family.
 */
export type NftFamily = 'ip' | 'ip6'

const tbl = (f: NftFamily) => `${f} ${NFT_TABLE}`
const addrType = (f: NftFamily) => (f === 'ip' ? 'ipv4_addr' : 'ipv6_addr')

/** One bridge network as its rules need it. */
export interface NftNetwork {
  device: string
  /** The IPv4 subnet, CIDR. */
  subnet: string
  /** No traffic in or out of the network but between its own containers. */
  internal: boolean
}

/** One published port: host address ('' for all of the host's), protocol and both ports. */
export interface NftPort {
  hostIp: string
  proto: string
  hostPort: number
  ip: string
  containerPort: number
}

/** The table's sets, maps and base chains, declared (no rules): harmless when they exist. */
export function baseDecls(f: NftFamily = 'ip'): string {
  const T = tbl(f)
  const A = addrType(f)
  return [
    `add table ${T}`,
    // Every bridge of berth's: traffic from one network to another is dropped (Docker's
    // isolation between networks).
    `add set ${T} bridges { type ifname; }`,
    // Bridge device -> the network's chain for traffic from it, and for traffic to it.
    `add map ${T} fwd_in { type ifname : verdict; }`,
    `add map ${T} fwd_out { type ifname : verdict; }`,
    // Subnet -> the network's source NAT chain (by address: with br_netfilter a bridged
    // packet has no input device at postrouting).
    `add map ${T} post_src { type ${A} : verdict; flags interval; }`,
    // Published ports: on every address of the host, and on one address.
    `add map ${T} hp_any { type inet_proto . inet_service : ${A} . inet_service; }`,
    `add map ${T} hp_ip { type ${A} . inet_proto . inet_service : ${A} . inet_service; }`,
    `add chain ${T} hostports`,
    `add chain ${T} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ${T} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${T} output { type nat hook output priority -100; policy accept; }`,
    `add chain ${T} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    '',
  ].join('\n')
}

/** The base chains' rules, written again from scratch (the maps keep their elements). */
export function baseRules(f: NftFamily = 'ip'): string {
  const T = tbl(f)
  const chain = (name: string, rules: string[]) => [
    `flush chain ${T} ${name}`,
    ...rules.map((r) => `add rule ${T} ${name} ${r}`),
  ]
  const l4 = 'meta l4proto { tcp, udp, sctp }'
  return [
    baseDecls(f).trimEnd(),
    ...chain('hostports', [
      `${l4} dnat ${f} to ${f} daddr . meta l4proto . th dport map @hp_ip`,
      `${l4} dnat ${f} to meta l4proto . th dport map @hp_any`,
    ]),
    ...chain('forward', ['iifname vmap @fwd_in', 'oifname vmap @fwd_out']),
    // A published port answers on every local address, 127.0.0.1 included (the bridge has
    // route_localnet on), from the host and from outside.
    ...chain('prerouting', ['fib daddr type local jump hostports']),
    ...chain('output', ['fib daddr type local jump hostports']),
    ...chain('postrouting', [
      // The 127.0.0.1 path: the container could not answer a loopback source. (IPv6 has no
      // route_localnet: the kernel never routes ::1 to a bridge, so ip6 has no such rule.)
      ...(f === 'ip' ? ['oifname @bridges ip saddr 127.0.0.0/8 masquerade'] : []),
      `${f} saddr vmap @post_src`,
    ]),
    '',
  ].join('\n')
}

function chains(n: NftNetwork): { inn: string; out: string; post: string } {
  return { inn: `n-${n.device}-in`, out: `n-${n.device}-out`, post: `n-${n.device}-post` }
}

const q = (s: string) => JSON.stringify(s)

/**
 * A network's chains, declared: batches that touch a network's elements start with this,
 * before baseDecls (nft 1.0.6 fails to add an element of an interval map that jumps to a
 * chain declared after the map in the same batch).
 */
export function networkChains(n: NftNetwork, f: NftFamily = 'ip'): string {
  const T = tbl(f)
  const c = chains(n)
  return [`add table ${T}`, ...[c.inn, c.out, c.post].map((ch) => `add chain ${T} ${ch}`), ''].join(
    '\n',
  )
}

/** A network's rules and elements (after networkChains, then baseDecls or baseRules). */
export function networkUp(n: NftNetwork, f: NftFamily = 'ip'): string {
  const T = tbl(f)
  const c = chains(n)
  const dev = q(n.device)
  const lines = [
    `flush chain ${T} ${c.inn}`,
    `add rule ${T} ${c.inn} oifname ${dev} return`,
    `add rule ${T} ${c.inn} oifname @bridges drop`,
    `flush chain ${T} ${c.out}`,
    `flush chain ${T} ${c.post}`,
  ]
  if (n.internal) {
    lines.push(`add rule ${T} ${c.inn} drop`, `add rule ${T} ${c.out} iifname != ${dev} drop`)
  } else {
    // Outbound NAT.
    lines.push(`add rule ${T} ${c.post} oifname != ${dev} masquerade`)
  }
  // A container reaching a published port of its own network through a host address (its
  // own included: hairpin) gets the reply back through the host.
  lines.push(`add rule ${T} ${c.post} oifname ${dev} ct status dnat masquerade`)
  lines.push(...elements(n, 'add', f), '')
  return lines.join('\n')
}

function elements(n: NftNetwork, verb: 'add' | 'delete', f: NftFamily): string[] {
  const T = tbl(f)
  const c = chains(n)
  const dev = q(n.device)
  const v = (data: string) => (verb === 'add' ? ` : ${data}` : '')
  return [
    `${verb} element ${T} bridges { ${dev} }`,
    `${verb} element ${T} fwd_in { ${dev}${v(`jump ${c.inn}`)} }`,
    `${verb} element ${T} fwd_out { ${dev}${v(`jump ${c.out}`)} }`,
    `${verb} element ${T} post_src { ${n.subnet}${v(`jump ${c.post}`)} }`,
  ]
}

/** Takes a network's chains and elements away, there or not (after networkChains, baseDecls). */
export function networkDown(n: NftNetwork, f: NftFamily = 'ip'): string {
  const T = tbl(f)
  const c = chains(n)
  const lines = [...elements(n, 'add', f), ...elements(n, 'delete', f)]
  for (const ch of [c.inn, c.out, c.post]) lines.push(`flush chain ${T} ${ch}`)
  for (const ch of [c.inn, c.out, c.post]) lines.push(`delete chain ${T} ${ch}`)
  lines.push('')
  return lines.join('\n')
}

function portElement(p: NftPort, withData: boolean): { map: string; elem: string } {
  const key = `${p.proto} . ${p.hostPort}`
  const data = withData ? ` : ${p.ip} . ${p.containerPort}` : ''
  return p.hostIp === ''
    ? { map: 'hp_any', elem: `${key}${data}` }
    : { map: 'hp_ip', elem: `${p.hostIp} . ${key}${data}` }
}

/** Publishes ports (after baseDecls). */
export function portsAdd(ports: NftPort[], f: NftFamily = 'ip'): string {
  const T = tbl(f)
  return ports
    .map((p) => {
      const e = portElement(p, true)
      return `add element ${T} ${e.map} { ${e.elem} }\n`
    })
    .join('')
}

/** Withdraws ports, published or not (after baseDecls). */
export function portsDel(ports: NftPort[], f: NftFamily = 'ip'): string {
  const T = tbl(f)
  return (
    portsAdd(ports, f) +
    ports
      .map((p) => {
        const e = portElement(p, false)
        return `delete element ${T} ${e.map} { ${e.elem} }\n`
      })
      .join('')
  )
}

/** Removes the whole table, there or not. */
export function dropTable(f: NftFamily = 'ip'): string {
  const T = tbl(f)
  return `add table ${T}\ndelete table ${T}\n`
}
