import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'
import { parseContainerConfig, runFlags } from '../containeropts.ts'
import {
  attachContainer,
  checkPullOption,
  createContainer,
  proxySignals,
  toStatusError,
  startWait,
  withHelp,
} from '../containerrun.ts'
import { resolveDetachKeys } from '../detachkeys.ts'
import { monitorTtySize, setRawTerminal } from '../hijack.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create and run a new container from an image',
  aliases: ['berth container run', 'berth run'],
  interspersed: false,
  args: { min: 1 },
  flags: runFlags,
  async run(ctx, f) {
    const detach = bool(f, 'detach')
    let cfg
    try {
      checkPullOption(str(f, 'pull'))
      cfg = await parseContainerConfig(f, detach, ctx.host.slice('unix://'.length))
    } catch (e) {
      throw new CliError(withHelp((e as Error).message, 'run'), 125)
    }
    if (detach && f.changed.has('attach')) {
      throw new CliError('conflicting options: cannot specify both --attach and --detach', 1)
    }
    if (!detach && cfg.attachStdin && cfg.tty && !process.stdin.isTTY) {
      throw new CliError('the input device is not a TTY', 1)
    }
    const client = await ctx.client()
    let id: string
    try {
      id = await createContainer(client, cfg, str(f, 'pull'), bool(f, 'quiet'))
    } catch (e) {
      throw toStatusError(e)
    }

    const attach = cfg.attachStdin || cfg.attachStdout || cfg.attachStderr
    let restore = () => {}
    let stopResize = () => {}
    let stopProxy = () => {}
    let output: Promise<boolean> | undefined
    const detachKeys = await resolveDetachKeys(str(f, 'detach-keys'))
    try {
      if (bool(f, 'sig-proxy') && !detach) stopProxy = proxySignals(client, id)
      if (attach) {
        if (cfg.tty && cfg.attachStdin) restore = setRawTerminal()
        output = (
          await attachContainer(client, id, {
            tty: cfg.tty,
            stdin: cfg.attachStdin,
            stdout: cfg.attachStdout,
            stderr: cfg.attachStderr,
            detachKeys,
          })
        ).done
      }
      const status = attach
        ? (await startWait(client, id, cfg.autoRemove ? 'removed' : 'next-exit')).status
        : undefined
      try {
        const res = await client.request('POST', `/containers/${encodeURIComponent(id)}/start`)
        res.resume()
      } catch (e) {
        if (cfg.autoRemove && status) await status.catch(() => undefined)
        throw toStatusError(e)
      }
      if (!attach) {
        out(id + '\n')
        return 0
      }
      if (cfg.tty && process.stdout.isTTY) stopResize = monitorTtySize(client, id)
      // Detached (the detach keys): the container runs on, and run says nothing more.
      if (output && (await Promise.race([output.catch(() => false), status!.then(() => false)]))) {
        return 0
      }
      const code = await status!
      await output?.catch(() => undefined)
      return code
    } finally {
      stopProxy()
      stopResize()
      restore()
    }
  },
}
