import type { CommandDef } from '../command.ts'
import { CliError, out, str } from '../command.ts'
import { render } from '../template/index.ts'
import { bytesSize } from '../../lib/units.ts'

interface Info {
  ID?: string
  Containers?: number
  ContainersRunning?: number
  ContainersPaused?: number
  ContainersStopped?: number
  Images?: number
  ServerVersion?: string
  Driver?: string
  DriverStatus?: Array<[string, string]> | null
  LoggingDriver?: string
  CgroupDriver?: string
  CgroupVersion?: string
  Runtimes?: Record<string, unknown>
  DefaultRuntime?: string
  KernelVersion?: string
  OperatingSystem?: string
  OSType?: string
  Architecture?: string
  NCPU?: number
  MemTotal?: number
  DockerRootDir?: string
  Name?: string
  Debug?: boolean
  Labels?: string[] | null
  Experimental?: boolean
  LiveRestoreEnabled?: boolean
  Warnings?: string[] | null
  CDISpecDirs?: string[] | null
  DiscoveredDevices?: { Source: string; ID: string }[] | null
  GPUs?: {
    Provider?: string
    DriverVersion?: string
    Devices?: { Index: number; UUID?: string; Model?: string }[] | null
  }
}

/** The GPUs and who provides them: a CDI spec, berth's own discovery, or nobody. */
function gpuLines(info: Info): string[] {
  const l: string[] = []
  const dirs = info.CDISpecDirs ?? []
  if (dirs.length > 0) l.push(' CDI spec directories:', ...dirs.map((d) => `  ${d}`))
  const found = info.DiscoveredDevices ?? []
  if (found.length > 0) {
    l.push(' Discovered Devices:', ...found.map((d) => `  ${d.Source}: ${d.ID}`))
  }
  const g = info.GPUs
  if (g === undefined) return l
  const gpus = g.Devices ?? []
  const driver = g.DriverVersion ? ` (NVIDIA driver ${g.DriverVersion})` : ''
  if (g.Provider === 'cdi') l.push(` GPUs: ${gpus.length}, provided by a CDI spec${driver}`)
  else if (g.Provider === 'discovery') l.push(` GPUs: ${gpus.length}, found by discovery${driver}`)
  else l.push(' GPUs: none (no CDI spec for nvidia.com/gpu, no NVIDIA driver found)')
  for (const d of gpus) {
    const uuid = d.UUID ? ` (UUID: ${d.UUID})` : ''
    l.push(`  GPU ${d.Index}: ${d.Model || 'NVIDIA GPU'}${uuid}`)
  }
  return l
}

export const command: CommandDef = {
  usage: '[OPTIONS]',
  short: 'Display system-wide information',
  aliases: ['berth system info', 'berth info'],
  args: { max: 0 },
  flags: [
    {
      long: 'format',
      short: 'f',
      kind: 'string',
      desc: "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates",
    },
  ],
  async run(ctx, f) {
    const format = str(f, 'format')
    let info: Info
    try {
      info = await (await ctx.client()).json<Info>('GET', '/info')
    } catch (e) {
      if (format) throw e
      out('Client:\n Version:    0.1.0\n Context:    default\n Debug Mode: false\n\nServer:\n')
      throw new CliError(`ERROR: ${(e as Error).message}\nerrors pretty printing info`)
    }
    if (format) {
      out(render(format === 'json' ? '{{json .}}' : format, info) + '\n')
      return 0
    }
    const l: string[] = [
      'Client:',
      ' Version:    0.1.0',
      ' Context:    default',
      ' Debug Mode: false',
      '',
      'Server:',
    ]
    l.push(` Containers: ${info.Containers ?? 0}`)
    l.push(`  Running: ${info.ContainersRunning ?? 0}`)
    l.push(`  Paused: ${info.ContainersPaused ?? 0}`)
    l.push(`  Stopped: ${info.ContainersStopped ?? 0}`)
    l.push(` Images: ${info.Images ?? 0}`)
    l.push(` Server Version: ${info.ServerVersion ?? ''}`)
    l.push(` Storage Driver: ${info.Driver ?? ''}`)
    for (const [k, v] of info.DriverStatus ?? []) l.push(`  ${k}: ${v}`)
    l.push(` Logging Driver: ${info.LoggingDriver ?? ''}`)
    l.push(` Cgroup Driver: ${info.CgroupDriver ?? ''}`)
    l.push(` Cgroup Version: ${info.CgroupVersion ?? ''}`)
    l.push(...gpuLines(info))
    l.push(
      ` Runtimes: ${Object.keys(info.Runtimes ?? {})
        .sort()
        .join(' ')}`,
    )
    l.push(` Default Runtime: ${info.DefaultRuntime ?? ''}`)
    l.push(` Kernel Version: ${info.KernelVersion ?? ''}`)
    l.push(` Operating System: ${info.OperatingSystem ?? ''}`)
    l.push(` OSType: ${info.OSType ?? ''}`)
    l.push(` Architecture: ${info.Architecture ?? ''}`)
    l.push(` CPUs: ${info.NCPU ?? 0}`)
    l.push(` Total Memory: ${bytesSize(info.MemTotal ?? 0)}`)
    l.push(` Name: ${info.Name ?? ''}`)
    l.push(` ID: ${info.ID ?? ''}`)
    l.push(` Docker Root Dir: ${info.DockerRootDir ?? ''}`)
    l.push(` Debug Mode: ${info.Debug ? 'true' : 'false'}`)
    l.push(` Experimental: ${info.Experimental ? 'true' : 'false'}`)
    l.push(` Live Restore Enabled: ${info.LiveRestoreEnabled ? 'true' : 'false'}`)
    out(l.join('\n') + '\n\n')
    for (const w of info.Warnings ?? []) process.stderr.write(w + '\n')
    return 0
  },
}
