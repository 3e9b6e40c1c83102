import type { CommandDef } from '../command.ts'
import { CliError, forEach, out, str } from '../command.ts'
import { parseRestartPolicy } from '../containeropts.ts'
import { bytesFlag, hostFlags, parseNanoCpus } from '../hostopts.ts'

function flagErr(v: string, flag: string, why: string): CliError {
  return new CliError(`invalid argument "${v}" for "${flag}" flag: ${why}`, 125)
}

const intFlag = (long: string, desc: string, short?: string) => ({
  long,
  ...(short ? { short } : {}),
  kind: 'string' as const,
  typeName: 'int',
  desc,
})

// The size and CPU-set flags are run's own (same names, types and help).
const sharedFlags = hostFlags.filter((fl) =>
  ['cpus', 'cpuset-cpus', 'cpuset-mems', 'memory', 'memory-reservation', 'memory-swap'].includes(
    fl.long,
  ),
)

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Update configuration of one or more containers',
  aliases: ['berth container update', 'berth update'],
  args: { min: 1 },
  flags: [
    intFlag('cpu-period', 'Limit CPU CFS (Completely Fair Scheduler) period'),
    intFlag('cpu-quota', 'Limit CPU CFS (Completely Fair Scheduler) quota'),
    intFlag('cpu-shares', 'CPU shares (relative weight)', 'c'),
    ...sharedFlags,
    intFlag('pids-limit', 'Tune container pids limit (set -1 for unlimited)'),
    { long: 'restart', kind: 'string', desc: 'Restart policy to apply when a container exits' },
  ],
  async run(ctx, f) {
    if (f.changed.size === 0) {
      throw new CliError('you must provide one or more flags when using this command')
    }
    const body: Record<string, unknown> = {}
    const int = (flag: string, key: string): void => {
      if (!f.changed.has(flag)) return
      const v = str(f, flag)
      if (!/^[-+]?\d+$/.test(v))
        throw flagErr(v, `--${flag}`, `strconv.ParseInt: parsing "${v}": invalid syntax`)
      body[key] = Number.parseInt(v, 10)
    }
    int('cpu-period', 'CpuPeriod')
    int('cpu-quota', 'CpuQuota')
    int('cpu-shares', 'CpuShares')
    int('pids-limit', 'PidsLimit')
    if (f.changed.has('cpus')) body.NanoCpus = parseNanoCpus(str(f, 'cpus'))
    if (f.changed.has('cpuset-cpus')) body.CpusetCpus = str(f, 'cpuset-cpus')
    if (f.changed.has('cpuset-mems')) body.CpusetMems = str(f, 'cpuset-mems')
    if (f.changed.has('memory')) body.Memory = bytesFlag(f, 'memory', 'm')
    if (f.changed.has('memory-reservation')) {
      body.MemoryReservation = bytesFlag(f, 'memory-reservation')
    }
    if (f.changed.has('memory-swap')) body.MemorySwap = bytesFlag(f, 'memory-swap', undefined, true)
    if (f.changed.has('restart')) body.RestartPolicy = parseRestartPolicy(str(f, 'restart'))

    const client = await ctx.client()
    return forEach(f.args, async (n) => {
      const r = await client.json<{ Warnings?: string[] | null }>(
        'POST',
        `/containers/${encodeURIComponent(n)}/update`,
        { body },
      )
      for (const w of r.Warnings ?? []) process.stderr.write(`${w}\n`)
      out(n + '\n')
    })
  },
}
