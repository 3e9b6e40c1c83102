import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'
import { attachContainer, startWait } from '../containerrun.ts'
import { resolveDetachKeys } from '../detachkeys.ts'
import { monitorTtySize, setRawTerminal } from '../hijack.ts'

interface Inspect {
  Id: string
  Config: { Tty: boolean; OpenStdin: boolean }
  HostConfig?: { AutoRemove?: boolean }
}

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Start one or more stopped containers',
  aliases: ['berth container start', 'berth start'],
  args: { min: 1 },
  flags: [
    { long: 'attach', short: 'a', kind: 'bool', desc: 'Attach STDOUT/STDERR and forward signals' },
    {
      long: 'detach-keys',
      kind: 'string',
      desc: 'Override the key sequence for detaching a container',
    },
    { long: 'interactive', short: 'i', kind: 'bool', desc: "Attach container's STDIN" },
    {
      long: 'checkpoint',
      kind: 'string',
      desc: 'Restore from this checkpoint',
      experimental: true,
      osType: 'linux',
    },
    {
      long: 'checkpoint-dir',
      kind: 'string',
      desc: 'Use a custom checkpoint storage directory',
      experimental: true,
      osType: 'linux',
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    const query = {
      checkpoint: str(f, 'checkpoint') || undefined,
      'checkpoint-dir': str(f, 'checkpoint-dir') || undefined,
    }
    const attach = bool(f, 'attach')
    const interactive = bool(f, 'interactive')
    if (attach || interactive) {
      if (f.args.length > 1)
        throw new CliError('you cannot start and attach multiple containers at once')
      const c = await client.json<Inspect>(
        'GET',
        `/containers/${encodeURIComponent(f.args[0])}/json`,
      )
      const detachKeys = await resolveDetachKeys(str(f, 'detach-keys'))
      const stdin = interactive && c.Config.OpenStdin
      let restore = () => {}
      let stopResize = () => {}
      try {
        if (c.Config.Tty && stdin) restore = setRawTerminal()
        const output = (
          await attachContainer(client, c.Id, {
            tty: c.Config.Tty,
            stdin,
            stdout: true,
            stderr: true,
            detachKeys,
          })
        ).done
        const { status } = await startWait(
          client,
          c.Id,
          c.HostConfig?.AutoRemove ? 'removed' : 'next-exit',
        )
        const res = await client.request('POST', `/containers/${encodeURIComponent(c.Id)}/start`, {
          query,
        })
        res.resume()
        if (c.Config.Tty && process.stdout.isTTY) stopResize = monitorTtySize(client, c.Id)
        // Detached with the detach keys: the container runs on, and start says nothing more.
        if (await output.catch(() => false)) return 0
        return await status
      } finally {
        stopResize()
        restore()
      }
    }
    const failed: string[] = []
    for (const name of f.args) {
      try {
        const res = await client.request('POST', `/containers/${encodeURIComponent(name)}/start`, {
          query,
        })
        res.resume()
        out(name + '\n')
      } catch (e) {
        process.stderr.write((e as Error).message + '\n')
        failed.push(name)
      }
    }
    if (failed.length > 0)
      throw new CliError(`Error: failed to start containers: ${failed.join(', ')}`)
    return 0
  },
}
