// The network namespace where berth without root keeps its user-defined networks, as rootless
// Podman keeps its "rootless-netns": one per user berthd, owned by the user's namespace, so
// berth may make bridges, veth pairs and nftables rules in it and aardvark-dns may listen
// on port 53 there, none of which touches the host's network. One pasta joins it to the host
// for outbound traffic (the host's addresses and routes copied in, connections made through
// ordinary sockets); published ports come in through per-container forwarders (portfwd.ts).
// It is made on first use and taken down when no container needs it, and it is bind-mounted
// on a file in the holder's mount namespace, so a restarted berthd finds it again.
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Internal } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { execTool } from './exec.ts'
import { createNetns, isNetnsMounted, removeNetns } from './netns.ts'

export interface RootlessNetnsDeps {
  /** Where the namespace's file and pasta's pid file live. */
  dir: string
  logger: Logger
  /** pasta's path (/usr/bin/pasta unless a test says otherwise). */
  pasta?: string
}

/** pasta's command line for the shared namespace: outbound only, nothing published (pure). */
export function rootlessNetnsPastaArgs(netns: string, pidFile: string): string[] {
  return [
    '--config-net',
    '--quiet',
    '--netns',
    netns,
    '--pid',
    pidFile,
    ...['-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none'],
  ]
}

/** Why pasta failed, without its note that it cannot reach syslog. */
export function pastaFailure(stderr: string): string {
  const why = stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/to syslog/.test(l))
    .join('; ')
  const tun = /tun/i.test(why)
    ? ' (pasta needs /dev/net/tun open to users: mode 0666, as Debian ships it)'
    : ''
  return `${why}${tun}`
}

/** The pid in a pid file whose process's command line mentions `mark`, else undefined. */
export async function ownedPid(pidFile: string, mark: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim())
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
  return cmdline.split('\0').some((a) => a.includes(mark)) ? pid : undefined
}

export class RootlessNetns {
  readonly path: string
  private readonly pidFile: string
  private readonly pasta: string

  constructor(private readonly deps: RootlessNetnsDeps) {
    this.path = join(deps.dir, 'rootless.netns')
    this.pidFile = join(deps.dir, 'rootless.pasta.pid')
    this.pasta = deps.pasta ?? '/usr/bin/pasta'
  }

  /** Whether the namespace is there (it may be, with pasta gone: then ensure() restarts it). */
  async exists(): Promise<boolean> {
    return isNetnsMounted(this.path)
  }

  /** Makes the namespace and its pasta when they are not both there. */
  async ensure(): Promise<void> {
    await mkdir(this.deps.dir, { recursive: true, mode: 0o700 })
    const mounted = await isNetnsMounted(this.path)
    if (mounted && (await ownedPid(this.pidFile, this.path)) !== undefined) return
    if (!mounted) await createNetns(this.path, { loopback: true })
    else this.deps.logger.warn('pasta of the rootless network namespace was gone; restarting it')
    // A pasta that died took its tap device with it, so a new one configures afresh.
    const r = await execTool([this.pasta, ...rootlessNetnsPastaArgs(this.path, this.pidFile)])
    if (r.code !== 0) {
      if (!mounted) await removeNetns(this.path)
      throw new Internal(
        `cannot connect the user-defined networks to the host with pasta: ${pastaFailure(r.stderr)}`,
      )
    }
  }

  /** Takes the namespace down: pasta, then the namespace (the bridges in it go with it). */
  async stop(): Promise<void> {
    const pid = await ownedPid(this.pidFile, this.path)
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        // gone already
      }
    }
    await rm(this.pidFile, { force: true })
    await removeNetns(this.path)
  }
}
