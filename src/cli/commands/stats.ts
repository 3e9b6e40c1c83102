import { jsonLines, type Client } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { bool, formatFlagDesc, out, outAsync, str } from '../command.ts'
import { formatRows, STRUCT } from '../template/index.ts'
import { bytesSize, humanSizeWithPrecision, truncateID } from '../../lib/units.ts'

/** The parts of Docker's StatsJSON the table is computed from. */
export interface StatsSample {
  id?: string
  name?: string
  read?: string
  cpu_stats?: CpuSample
  precpu_stats?: CpuSample
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> }
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null }
  pids_stats?: { current?: number }
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>
}

interface CpuSample {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] }
  system_cpu_usage?: number
  online_cpus?: number
}

/** One row of `docker stats`, computed the way the docker CLI computes it. */
export interface StatsEntry {
  container: string
  id: string
  name: string
  cpuPercent: number
  memory: number
  memoryLimit: number
  memoryPercent: number
  netRx: number
  netTx: number
  blockRead: number
  blockWrite: number
  pids: number
  invalid: boolean
}

export const statsHeaders: Record<string, string> = {
  Container: 'CONTAINER',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
}

const DEFAULT_FORMAT =
  'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}'

/** docker's calculateCPUPercentUnix. */
export function cpuPercent(s: StatsSample): number {
  const cur = s.cpu_stats ?? {}
  const pre = s.precpu_stats ?? {}
  const cpuDelta = (cur.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0)
  const systemDelta = (cur.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0)
  let online = cur.online_cpus ?? 0
  if (online === 0) online = cur.cpu_usage?.percpu_usage?.length ?? 0
  if (systemDelta > 0 && cpuDelta > 0) return (cpuDelta / systemDelta) * online * 100
  return 0
}

/** docker's calculateMemUsageUnixNoCache: usage less the inactive page cache. */
export function memUsageNoCache(m: NonNullable<StatsSample['memory_stats']>): number {
  const usage = m.usage ?? 0
  const v1 = m.stats?.total_inactive_file
  if (v1 !== undefined && v1 < usage) return usage - v1
  const v2 = m.stats?.inactive_file
  if (v2 !== undefined && v2 < usage) return usage - v2
  return usage
}

export function statsEntry(container: string, s: StatsSample): StatsEntry {
  const mem = s.memory_stats ?? {}
  const memory = memUsageNoCache(mem)
  const limit = mem.limit ?? 0
  let blockRead = 0
  let blockWrite = 0
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase()
    if (op === 'read') blockRead += e.value
    else if (op === 'write') blockWrite += e.value
  }
  let netRx = 0
  let netTx = 0
  for (const n of Object.values(s.networks ?? {})) {
    netRx += n.rx_bytes
    netTx += n.tx_bytes
  }
  return {
    container,
    id: s.id ?? '',
    name: (s.name ?? '').replace(/^\//, ''),
    cpuPercent: cpuPercent(s),
    memory,
    memoryLimit: limit,
    memoryPercent: limit !== 0 ? (memory / limit) * 100 : 0,
    netRx,
    netTx,
    blockRead,
    blockWrite,
    pids: s.pids_stats?.current ?? 0,
    invalid: false,
  }
}

function invalidEntry(container: string): StatsEntry {
  return {
    container,
    id: '',
    name: '',
    cpuPercent: 0,
    memory: 0,
    memoryLimit: 0,
    memoryPercent: 0,
    netRx: 0,
    netTx: 0,
    blockRead: 0,
    blockWrite: 0,
    pids: 0,
    invalid: true,
  }
}

/** The template context docker's stats formatter gives each row. */
export function statsContext(e: StatsEntry, trunc: boolean): object {
  const dash = (f: () => string) => () => (e.invalid ? '--' : f())
  return {
    [STRUCT]: '*formatter.statsContext',
    Container: () => e.container,
    ID: () => (trunc ? truncateID(e.id) : e.id),
    Name: () => (e.invalid || e.name === '' ? '--' : e.name),
    CPUPerc: dash(() => `${e.cpuPercent.toFixed(2)}%`),
    MemUsage: dash(() => `${bytesSize(e.memory)} / ${bytesSize(e.memoryLimit)}`),
    MemPerc: dash(() => `${e.memoryPercent.toFixed(2)}%`),
    NetIO: dash(
      () => `${humanSizeWithPrecision(e.netRx, 3)} / ${humanSizeWithPrecision(e.netTx, 3)}`,
    ),
    BlockIO: dash(
      () =>
        `${humanSizeWithPrecision(e.blockRead, 3)} / ${humanSizeWithPrecision(e.blockWrite, 3)}`,
    ),
    PIDs: dash(() => String(e.pids)),
  }
}

async function containerNames(client: Client, all: boolean): Promise<string[]> {
  const cs = await client.json<{ Id: string }[]>('GET', '/containers/json', {
    query: { all: all || undefined },
  })
  return cs.map((c) => c.Id.slice(0, 12))
}

export const command: CommandDef = {
  usage: '[OPTIONS] [CONTAINER...]',
  short: 'Display a live stream of container(s) resource usage statistics',
  aliases: ['berth container stats', 'berth stats'],
  flags: [
    {
      long: 'all',
      short: 'a',
      kind: 'bool',
      desc: 'Show all containers (default shows just running)',
    },
    { long: 'format', kind: 'string', desc: formatFlagDesc },
    {
      long: 'no-stream',
      kind: 'bool',
      desc: 'Disable streaming stats and only pull the first result',
    },
    { long: 'no-trunc', kind: 'bool', desc: 'Do not truncate output' },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const named = f.args.length > 0
    const names = named ? f.args : await containerNames(client, bool(f, 'all'))
    let format = str(f, 'format')
    if (!format || format === 'table') format = DEFAULT_FORMAT
    const trunc = !bool(f, 'no-trunc')
    const render = (entries: StatsEntry[]): string =>
      formatRows(
        format,
        entries.map((e) => statsContext(e, trunc)),
        statsHeaders,
      )

    if (bool(f, 'no-stream')) {
      const errors: string[] = []
      const entries = await Promise.all(
        names.map(async (n) => {
          try {
            const res = await client.request('GET', `/containers/${encodeURIComponent(n)}/stats`, {
              query: { stream: false },
            })
            for await (const s of jsonLines<StatsSample>(res)) return statsEntry(n, s)
            return invalidEntry(n)
          } catch (e) {
            errors.push((e as Error).message)
            return invalidEntry(n)
          }
        }),
      )
      // Named containers that cannot be read are an error, as in docker.
      if (named && errors.length > 0) {
        process.stderr.write(errors.join('\n') + '\n')
        return 1
      }
      out(render(entries))
      return 0
    }

    const latest = new Map<string, StatsEntry>(names.map((n) => [n, invalidEntry(n)]))
    const ac = new AbortController()
    const streams = names.map(async (n) => {
      try {
        const res = await client.request('GET', `/containers/${encodeURIComponent(n)}/stats`, {
          query: { stream: true },
          signal: ac.signal,
        })
        for await (const s of jsonLines<StatsSample>(res)) latest.set(n, statsEntry(n, s))
      } catch {
        latest.set(n, invalidEntry(n))
      }
    })
    process.once('SIGINT', () => ac.abort())
    // Redraw once a second, clearing the screen the way docker does on a terminal.
    const draw = async (): Promise<void> => {
      await outAsync('\x1b[2J\x1b[H' + render([...latest.values()]))
    }
    const timer = setInterval(() => void draw(), 1000)
    await Promise.all(streams)
    clearInterval(timer)
    await draw()
    return 0
  },
}
