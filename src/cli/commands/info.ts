import type { CommandDef } from '../command.ts'
import { CliError, out, str } from '../command.ts'
import { render } from '../template/index.ts'
import { bytesSize } from '../../lib/units.ts'
import { BERTH_VERSION } from '../../lib/buildinfo.ts'

interface Commit {
  ID?: string
}

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
  SystemStatus?: Array<[string, string]> | null
  LoggingDriver?: string
  CgroupDriver?: string
  CgroupVersion?: string
  Plugins?: { Volume?: string[]; Network?: string[]; Authorization?: string[]; Log?: string[] }
  CDISpecDirs?: string[] | null
  DiscoveredDevices?: Array<{ Source: string; ID: string }> | null
  Swarm?: { LocalNodeState?: string }
  Runtimes?: Record<string, unknown>
  DefaultRuntime?: string
  InitBinary?: string
  ContainerdCommit?: Commit
  RuncCommit?: Commit
  InitCommit?: Commit
  SecurityOptions?: string[] | null
  Isolation?: string
  KernelVersion?: string
  OperatingSystem?: string
  OSType?: string
  Architecture?: string
  NCPU?: number
  MemTotal?: number
  DockerRootDir?: string
  Name?: string
  Debug?: boolean
  NFd?: number
  NGoroutines?: number
  SystemTime?: string
  NEventsListener?: number
  HttpProxy?: string
  HttpsProxy?: string
  NoProxy?: string
  Labels?: string[] | null
  ExperimentalBuild?: boolean
  RegistryConfig?: {
    InsecureRegistryCIDRs?: string[] | null
    IndexConfigs?: Record<string, { Name: string; Secure: boolean }> | null
    Mirrors?: string[] | null
  } | null
  LiveRestoreEnabled?: boolean
  ProductLicense?: string
  DefaultAddressPools?: Array<{ Base: string; Size: number }> | null
  Warnings?: string[] | null
}

/** system.DecodeSecurityOptions: "name=seccomp,profile=builtin", or an old bare name. */
function securityOptions(opts: string[]): Array<{ name: string; profile?: string }> {
  return opts.map((o) => {
    const kv = Object.fromEntries(
      o.split(',').map((p) => {
        const eq = p.indexOf('=')
        return eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)]
      }),
    ) as Record<string, string>
    if (!('name' in kv)) return { name: o }
    return { name: kv.name as string, ...(kv.profile !== undefined ? { profile: kv.profile } : {}) }
  })
}

/** docker's prettyPrintServerInfo, line for line. */
function serverInfo(info: Info): string[] {
  const l: string[] = []
  const nonEmpty = (label: string, v: string | undefined) => {
    if (v) l.push(` ${label} ${v}`)
  }
  l.push(` Containers: ${info.Containers ?? 0}`)
  l.push(`  Running: ${info.ContainersRunning ?? 0}`)
  l.push(`  Paused: ${info.ContainersPaused ?? 0}`)
  l.push(`  Stopped: ${info.ContainersStopped ?? 0}`)
  l.push(` Images: ${info.Images ?? 0}`)
  nonEmpty('Server Version:', info.ServerVersion)
  nonEmpty('Storage Driver:', info.Driver)
  for (const [k, v] of info.DriverStatus ?? []) l.push(`  ${k}: ${v}`)
  for (const [k, v] of info.SystemStatus ?? []) l.push(` ${k}: ${v}`)
  nonEmpty('Logging Driver:', info.LoggingDriver)
  nonEmpty('Cgroup Driver:', info.CgroupDriver)
  nonEmpty('Cgroup Version:', info.CgroupVersion)
  const p = info.Plugins ?? {}
  l.push(' Plugins:')
  l.push(`  Volume: ${(p.Volume ?? []).join(' ')}`)
  l.push(`  Network: ${(p.Network ?? []).join(' ')}`)
  if ((p.Authorization ?? []).length > 0) l.push(`  Authorization: ${p.Authorization!.join(' ')}`)
  l.push(`  Log: ${(p.Log ?? []).join(' ')}`)
  if ((info.CDISpecDirs ?? []).length > 0) {
    l.push(' CDI spec directories:')
    for (const d of info.CDISpecDirs!) l.push(`  ${d}`)
  }
  if ((info.DiscoveredDevices ?? []).length > 0) {
    l.push(' Discovered Devices:')
    for (const d of info.DiscoveredDevices!) l.push(`  ${d.Source}: ${d.ID}`)
  }
  l.push(` Swarm: ${info.Swarm?.LocalNodeState ?? ''}`)
  const runtimes = Object.keys(info.Runtimes ?? {})
  if (runtimes.length > 0) {
    l.push(` Runtimes: ${runtimes.sort().join(' ')}`)
    l.push(` Default Runtime: ${info.DefaultRuntime ?? ''}`)
  }
  if (info.OSType === 'linux') {
    l.push(` Init Binary: ${info.InitBinary ?? ''}`)
    l.push(` containerd version: ${info.ContainerdCommit?.ID ?? ''}`)
    l.push(` runc version: ${info.RuncCommit?.ID ?? ''}`)
    l.push(` init version: ${info.InitCommit?.ID ?? ''}`)
    if ((info.SecurityOptions ?? []).length > 0) {
      l.push(' Security Options:')
      for (const so of securityOptions(info.SecurityOptions!)) {
        l.push(`  ${so.name}`)
        if (so.profile !== undefined) l.push(`   Profile: ${so.profile}`)
      }
    }
  }
  if (info.OSType === 'windows') l.push(` Default Isolation: ${info.Isolation ?? ''}`)
  nonEmpty('Kernel Version:', info.KernelVersion)
  nonEmpty('Operating System:', info.OperatingSystem)
  nonEmpty('OSType:', info.OSType)
  nonEmpty('Architecture:', info.Architecture)
  l.push(` CPUs: ${info.NCPU ?? 0}`)
  l.push(` Total Memory: ${bytesSize(info.MemTotal ?? 0)}`)
  nonEmpty('Name:', info.Name)
  nonEmpty('ID:', info.ID)
  l.push(` Docker Root Dir: ${info.DockerRootDir ?? ''}`)
  l.push(` Debug Mode: ${info.Debug ? 'true' : 'false'}`)
  if (info.Debug) {
    l.push(`  File Descriptors: ${info.NFd ?? 0}`)
    l.push(`  Goroutines: ${info.NGoroutines ?? 0}`)
    l.push(`  System Time: ${info.SystemTime ?? ''}`)
    l.push(`  EventsListeners: ${info.NEventsListener ?? 0}`)
  }
  nonEmpty('HTTP Proxy:', info.HttpProxy)
  nonEmpty('HTTPS Proxy:', info.HttpsProxy)
  nonEmpty('No Proxy:', info.NoProxy)
  if ((info.Labels ?? []).length > 0) {
    l.push(' Labels:')
    for (const lbl of info.Labels!) l.push(`  ${lbl}`)
  }
  l.push(` Experimental: ${info.ExperimentalBuild ? 'true' : 'false'}`)
  const reg = info.RegistryConfig
  const insecure = Object.values(reg?.IndexConfigs ?? {}).filter((c) => !c.Secure)
  if (
    reg &&
    ((reg.InsecureRegistryCIDRs ?? []).length > 0 || Object.keys(reg.IndexConfigs ?? {}).length > 0)
  ) {
    l.push(' Insecure Registries:')
    for (const c of insecure) l.push(`  ${c.Name}`)
    for (const cidr of reg.InsecureRegistryCIDRs ?? []) l.push(`  ${cidr}`)
  }
  if ((reg?.Mirrors ?? []).length > 0) {
    l.push(' Registry Mirrors:')
    for (const m of reg!.Mirrors!) l.push(`  ${m}`)
  }
  l.push(` Live Restore Enabled: ${info.LiveRestoreEnabled ? 'true' : 'false'}`)
  if (info.ProductLicense) l.push(` Product License: ${info.ProductLicense}`)
  if ((info.DefaultAddressPools ?? []).length > 0) {
    l.push(' Default Address Pools:')
    for (const pool of info.DefaultAddressPools!)
      l.push(`   Base: ${pool.Base}, Size: ${pool.Size}`)
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
      ` Version:    ${BERTH_VERSION}`,
      ' Context:    default',
      ' Debug Mode: false',
      '',
      'Server:',
      ...serverInfo(info),
    ]
    out(l.join('\n') + '\n\n')
    for (const w of info.Warnings ?? []) process.stderr.write(w + '\n')
    return 0
  },
}
