// Docker's StatsJSON, read from the container's cgroup files (v1, and the v2 equivalents) and
// /proc: the numbers `docker stats` turns into CPU %, MEM USAGE / LIMIT, BLOCK I/O and PIDS.
import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { readCgroupFile, type CgroupDirs } from './cgroup.ts'
import type { BlkioEntry, CpuStats, NetworkStats, StatsJson } from './types.ts'

const ZERO_TIME = '0001-01-01T00:00:00Z'
// USER_HZ: /proc/stat and cpuacct.stat count in these ticks (100 on every Linux ABI Node runs on).
const CLOCK_TICKS = 100
const NS_PER_TICK = 1e9 / CLOCK_TICKS

function emptyCpu(): CpuStats {
  return {
    cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  }
}

/** What dockerd answers for a container that is not running: everything zero. */
export function emptyStats(name: string, id: string): StatsJson {
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpu(),
    precpu_stats: emptyCpu(),
    memory_stats: {},
    name,
    id,
  }
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat) as numbers. */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/)
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v)
  }
  return out
}

/** blkio.throttle.* files: `MAJ:MIN Op value` lines; the `Total` line is left out, as runc does. */
export function parseBlkio(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = []
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length < 3) continue
    const [maj, min] = (f[0] as string).split(':')
    out.push({ major: Number(maj), minor: Number(min), op: f[1] as string, value: Number(f[2]) })
  }
  return out
}

/** cgroup v2 io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...` as Docker maps it. */
export function parseIoStat(text: string | undefined): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = []
  const ios: BlkioEntry[] = []
  for (const line of (text ?? '').split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length < 2) continue
    const [maj, min] = (f[0] as string).split(':')
    const major = Number(maj)
    const minor = Number(min)
    for (const kv of f.slice(1)) {
      const [k, v] = kv.split('=')
      const value = Number(v)
      if (k === 'rbytes') bytes.push({ major, minor, op: 'read', value })
      else if (k === 'wbytes') bytes.push({ major, minor, op: 'write', value })
      else if (k === 'rios') ios.push({ major, minor, op: 'read', value })
      else if (k === 'wios') ios.push({ major, minor, op: 'write', value })
    }
  }
  return { bytes, ios }
}

/** The host's CPU time in nanoseconds: the first seven fields of /proc/stat's cpu line. */
export function systemCpuUsage(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '))
  if (!line) return 0
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((a, v) => a + Number(v), 0)
  return ticks * NS_PER_TICK
}

/** /proc/<pid>/net/dev: the container's interfaces other than lo; none means no network. */
export function parseNetDev(text: string): Record<string, NetworkStats> | undefined {
  const out: Record<string, NetworkStats> = {}
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim()
    if (name === 'lo') continue
    const v = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number)
    out[name] = {
      rx_bytes: v[0] ?? 0,
      rx_packets: v[1] ?? 0,
      rx_errors: v[2] ?? 0,
      rx_dropped: v[3] ?? 0,
      tx_bytes: v[8] ?? 0,
      tx_packets: v[9] ?? 0,
      tx_errors: v[10] ?? 0,
      tx_dropped: v[11] ?? 0,
    }
  }
  return Object.keys(out).length > 0 ? out : undefined
}

let memTotal: Promise<number> | undefined

function hostMemory(): Promise<number> {
  memTotal ??= readFile('/proc/meminfo', 'utf8').then((t) => {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(t)
    return m ? Number(m[1]) * 1024 : Number.MAX_SAFE_INTEGER
  })
  return memTotal
}

const num = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined
  const t = s.trim()
  return /^\d+$/.test(t) ? Number(t) : undefined
}

/** One sample of a running container's numbers; precpu_stats is left empty for the caller. */
export async function sampleStats(
  dirs: CgroupDirs,
  pid: number,
  name: string,
  id: string,
  /** Whether to read its interfaces: dockerd shows none for --network host (nor for none). */
  ownNetwork = true,
): Promise<StatsJson> {
  const s = emptyStats(name, id)
  s.read = new Date().toISOString().replace(/Z$/, '000000Z')
  const [procStat, hostMem] = await Promise.all([readFile('/proc/stat', 'utf8'), hostMemory()])
  s.cpu_stats.system_cpu_usage = systemCpuUsage(procStat)
  s.cpu_stats.online_cpus = availableParallelism()
  if (dirs.version === 1) await sampleV1(s, dirs, hostMem)
  else await sampleV2(s, dirs, hostMem)
  const netdev = ownNetwork ? await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => '') : ''
  const networks = parseNetDev(netdev)
  if (networks) s.networks = networks
  return s
}

async function sampleV1(s: StatsJson, dirs: CgroupDirs, hostMem: number): Promise<void> {
  const cpuacct = dirs.dir('cpuacct')
  const mem = dirs.dir('memory')
  const pids = dirs.dir('pids')
  const blkio = dirs.dir('blkio')
  const [usage, percpu, acctStat, cpuStat, memUsage, memMax, memFail, memLimit, memStat] =
    await Promise.all([
      readCgroupFile(cpuacct, 'cpuacct.usage'),
      readCgroupFile(cpuacct, 'cpuacct.usage_percpu'),
      readCgroupFile(cpuacct, 'cpuacct.stat'),
      readCgroupFile(dirs.dir('cpu'), 'cpu.stat'),
      readCgroupFile(mem, 'memory.usage_in_bytes'),
      readCgroupFile(mem, 'memory.max_usage_in_bytes'),
      readCgroupFile(mem, 'memory.failcnt'),
      readCgroupFile(mem, 'memory.limit_in_bytes'),
      readCgroupFile(mem, 'memory.stat'),
    ])
  const [pidsCur, pidsMax, bytes, ios] = await Promise.all([
    readCgroupFile(pids, 'pids.current'),
    readCgroupFile(pids, 'pids.max'),
    readCgroupFile(blkio, 'blkio.throttle.io_service_bytes_recursive'),
    readCgroupFile(blkio, 'blkio.throttle.io_serviced_recursive'),
  ])
  const acct = parseKeyValues(acctStat)
  const thr = parseKeyValues(cpuStat)
  s.cpu_stats.cpu_usage = {
    total_usage: num(usage) ?? 0,
    percpu_usage: (percpu ?? '')
      .trim()
      .split(/\s+/)
      .filter((v) => v !== '')
      .map(Number),
    usage_in_kernelmode: (acct.system ?? 0) * NS_PER_TICK,
    usage_in_usermode: (acct.user ?? 0) * NS_PER_TICK,
  }
  s.cpu_stats.throttling_data = {
    periods: thr.nr_periods ?? 0,
    throttled_periods: thr.nr_throttled ?? 0,
    throttled_time: thr.throttled_time ?? 0,
  }
  const stats = parseKeyValues(memStat)
  const limit = num(memLimit) ?? stats.hierarchical_memory_limit ?? hostMem
  s.memory_stats = {
    usage: num(memUsage) ?? 0,
    max_usage: num(memMax) ?? 0,
    stats,
    ...(num(memFail) ? { failcnt: num(memFail) } : {}),
    // Unlimited is the largest page-aligned int64; dockerd shows the host's memory instead.
    limit: Math.min(limit, hostMem),
  }
  s.pids_stats = pidsStats(pidsCur, pidsMax)
  s.blkio_stats.io_service_bytes_recursive = parseBlkio(bytes)
  s.blkio_stats.io_serviced_recursive = parseBlkio(ios)
  for (const k of [
    'io_queue_recursive',
    'io_service_time_recursive',
    'io_wait_time_recursive',
    'io_merged_recursive',
    'io_time_recursive',
    'sectors_recursive',
  ] as const) {
    s.blkio_stats[k] = []
  }
}

async function sampleV2(s: StatsJson, dirs: CgroupDirs, hostMem: number): Promise<void> {
  const dir = dirs.dir('')
  const [cpuStat, memCur, memMax, memStat, memPeak, pidsCur, pidsMax, ioStat] = await Promise.all(
    [
      'cpu.stat',
      'memory.current',
      'memory.max',
      'memory.stat',
      'memory.peak',
      'pids.current',
      'pids.max',
      'io.stat',
    ].map((f) => readCgroupFile(dir, f)),
  )
  const cpu = parseKeyValues(cpuStat)
  s.cpu_stats.cpu_usage = {
    total_usage: (cpu.usage_usec ?? 0) * 1000,
    usage_in_kernelmode: (cpu.system_usec ?? 0) * 1000,
    usage_in_usermode: (cpu.user_usec ?? 0) * 1000,
  }
  s.cpu_stats.throttling_data = {
    periods: cpu.nr_periods ?? 0,
    throttled_periods: cpu.nr_throttled ?? 0,
    throttled_time: (cpu.throttled_usec ?? 0) * 1000,
  }
  s.memory_stats = {
    usage: num(memCur) ?? 0,
    ...(num(memPeak) !== undefined ? { max_usage: num(memPeak) } : {}),
    stats: parseKeyValues(memStat),
    limit: Math.min(num(memMax) ?? hostMem, hostMem),
  }
  s.pids_stats = pidsStats(pidsCur, pidsMax)
  const io = parseIoStat(ioStat)
  s.blkio_stats.io_service_bytes_recursive = io.bytes
  s.blkio_stats.io_serviced_recursive = io.ios
}

function pidsStats(cur: string | undefined, max: string | undefined): StatsJson['pids_stats'] {
  const out: StatsJson['pids_stats'] = {}
  const c = num(cur)
  if (c !== undefined) out.current = c
  const m = num(max)
  if (m !== undefined && m > 0) out.limit = m
  return out
}
