import type { CommandDef } from '../command.ts'
import { bool, CliError, out, str } from '../command.ts'
import { createFlags, parseContainerConfig, runOnlyFlags } from '../containeropts.ts'
import {
  attachContainer,
  createContainer,
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
  flags: [...createFlags, ...runOnlyFlags],
  async run(ctx, f) {
    const detach = bool(f, 'detach')
    let cfg
    try {
      cfg = await parseContainerConfig(f, detach)
    } catch (e) {
      throw new CliError(withHelp((e as Error).message, 'run'), 125)
    }
    if (!detach && cfg.attachStdin && cfg.tty && !process.stdin.isTTY) {
      throw new CliError('the input device is not a TTY', 1)
    }
    if (cfg.tty && process.stdout.isTTY) {
      // The pty starts at the terminal's size (API 1.42's HostConfig.ConsoleSize).
      const [w, h] = process.stdout.getWindowSize()
      ;((cfg.body.HostConfig ??= {}) as Record<string, unknown>).ConsoleSize = [h, w]
    }
    const client = await ctx.client().catch((e: unknown) => {
      throw new CliError((e as Error).message, 1)
    })
    let id: string
    try {
      id = await createContainer(client, cfg, str(f, 'pull'), bool(f, 'quiet'), ctx.config)
    } catch (e) {
      throw toStatusError(e)
    }

    const attach = cfg.attachStdin || cfg.attachStdout || cfg.attachStderr
    let restore = () => {}
    let stopResize = () => {}
    let output: Promise<boolean> | undefined
    const detachKeys = await resolveDetachKeys(str(f, 'detach-keys'))
    try {
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
      stopResize()
      restore()
    }
  },
}
