import type { CommandDef } from '../command.ts'
import { CliError, forEach, int, out, str } from '../command.ts'
import { parseRestartPolicy } from '../containeropts.ts'
import { bytesFlag, hostFlags, parseNanoCpus, sizeValue } from '../hostopts.ts'
import type { FlagDef } from '../flags.ts'

// The CPU-set and size flags are run's own (same names, types and help); update's own words
// differ for a few, as docker's do.
const fromRun = (long: string, over: Partial<FlagDef> = {}): FlagDef => ({
  ...hostFlags.find((fl) => fl.long === long)!,
  ...over,
})

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Update configuration of one or more containers',
  aliases: ['berth container update', 'berth update'],
  args: { min: 1 },
  flags: [
    {
      long: 'blkio-weight',
      kind: 'uint',
      bits: 16,
      typeName: 'uint16',
      desc: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)',
    },
    fromRun('cpu-period'),
    fromRun('cpu-quota'),
    {
      long: 'cpu-rt-period',
      kind: 'int',
      desc: 'Limit the CPU real-time period in microseconds',
      minAPI: '1.25',
    },
    {
      long: 'cpu-rt-runtime',
      kind: 'int',
      desc: 'Limit the CPU real-time runtime in microseconds',
      minAPI: '1.25',
    },
    fromRun('cpuset-cpus'),
    fromRun('cpuset-mems'),
    fromRun('cpu-shares'),
    fromRun('memory'),
    fromRun('memory-reservation'),
    fromRun('memory-swap', {
      desc: 'Swap limit equal to memory plus swap: -1 to enable unlimited swap',
    }),
    {
      long: 'kernel-memory',
      kind: 'string',
      typeName: 'bytes',
      desc: 'Kernel memory limit (deprecated)',
      hidden: true,
      value: sizeValue,
    },
    { long: 'restart', kind: 'string', desc: 'Restart policy to apply when a container exits' },
    fromRun('pids-limit', { minAPI: '1.40' }),
    fromRun('cpus', { minAPI: '1.29' }),
  ],
  async run(ctx, f) {
    if (f.changed.size === 0) {
      throw new CliError('you must provide one or more flags when using this command')
    }
    const restart = str(f, 'restart')
    // docker's UpdateConfig: every Resources field, zero meaning "leave as it is"
    const body = {
      CpuShares: int(f, 'cpu-shares'),
      Memory: bytesFlag(f, 'memory', 'm'),
      NanoCpus: str(f, 'cpus') === '' ? 0 : parseNanoCpus(str(f, 'cpus')),
      CgroupParent: '',
      BlkioWeight: int(f, 'blkio-weight'),
      BlkioWeightDevice: null,
      BlkioDeviceReadBps: null,
      BlkioDeviceWriteBps: null,
      BlkioDeviceReadIOps: null,
      BlkioDeviceWriteIOps: null,
      CpuPeriod: int(f, 'cpu-period'),
      CpuQuota: int(f, 'cpu-quota'),
      CpuRealtimePeriod: int(f, 'cpu-rt-period'),
      CpuRealtimeRuntime: int(f, 'cpu-rt-runtime'),
      CpusetCpus: str(f, 'cpuset-cpus'),
      CpusetMems: str(f, 'cpuset-mems'),
      Devices: null,
      DeviceCgroupRules: null,
      DeviceRequests: null,
      ...(bytesFlag(f, 'kernel-memory') !== 0
        ? { KernelMemory: bytesFlag(f, 'kernel-memory') }
        : {}),
      MemoryReservation: bytesFlag(f, 'memory-reservation'),
      MemorySwap: bytesFlag(f, 'memory-swap', undefined, true),
      MemorySwappiness: null,
      OomKillDisable: null,
      PidsLimit: int(f, 'pids-limit') !== 0 ? int(f, 'pids-limit') : null,
      Ulimits: null,
      CpuCount: 0,
      CpuPercent: 0,
      IOMaximumIOps: 0,
      IOMaximumBandwidth: 0,
      RestartPolicy:
        restart === '' ? { Name: '', MaximumRetryCount: 0 } : parseRestartPolicy(restart),
    }
    const client = await ctx.client()
    const warnings: string[] = []
    const code = await forEach(f.args, async (n) => {
      const r = await client.json<{ Warnings?: string[] | null }>(
        'POST',
        `/containers/${encodeURIComponent(n)}/update`,
        { body },
      )
      warnings.push(...(r.Warnings ?? []))
      out(n + '\n')
    }).finally(() => {
      if (warnings.length > 0) out(warnings.join('\n') + '\n')
    })
    return code
  },
}
