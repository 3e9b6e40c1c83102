import type { CommandDef } from '../command.ts'
import { bool, CliError, list, str } from '../command.ts'
import { parseEnvFile } from '../containeropts.ts'
import { envValue } from '../dockeropts.ts'
import { resolveDetachKeys } from '../detachkeys.ts'
import { hijack, monitorTtySize, setRawTerminal, streamHijacked } from '../hijack.ts'
import { readFile } from 'node:fs/promises'

interface ExecInspect {
  ExitCode: number | null
}

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  short: 'Execute a command in a running container',
  aliases: ['berth container exec', 'berth exec'],
  interspersed: false,
  args: { min: 2 },
  flags: [
    {
      long: 'detach',
      short: 'd',
      kind: 'bool',
      desc: 'Detached mode: run command in the background',
    },
    {
      long: 'detach-keys',
      kind: 'string',
      desc: 'Override the key sequence for detaching a container',
    },
    {
      long: 'env',
      short: 'e',
      kind: 'list',
      desc: 'Set environment variables',
      value: envValue,
    },
    { long: 'env-file', kind: 'list', desc: 'Read in a file of environment variables' },
    { long: 'interactive', short: 'i', kind: 'bool', desc: 'Keep STDIN open even if not attached' },
    { long: 'privileged', kind: 'bool', desc: 'Give extended privileges to the command' },
    { long: 'tty', short: 't', kind: 'bool', desc: 'Allocate a pseudo-TTY' },
    {
      long: 'user',
      short: 'u',
      kind: 'string',
      desc: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
    },
    { long: 'workdir', short: 'w', kind: 'string', desc: 'Working directory inside the container' },
  ],
  async run(ctx, f) {
    const [container, ...cmd] = f.args as [string, ...string[]]
    const detach = bool(f, 'detach')
    const tty = bool(f, 'tty')
    const interactive = bool(f, 'interactive')
    const env: string[] = []
    for (const file of list(f, 'env-file')) {
      const text = await readFile(file, 'utf8').catch(() => {
        throw new CliError(`open ${file}: no such file or directory`)
      })
      env.push(...parseEnvFile(text, file))
    }
    env.push(...list(f, 'env'))
    const detachKeys = await resolveDetachKeys(str(f, 'detach-keys'))
    const client = await ctx.client()
    // As docker does: a missing container is reported before anything else.
    await client.json('GET', `/containers/${encodeURIComponent(container)}/json`)
    const attachStdin = !detach && interactive
    if (!detach && attachStdin && tty && !process.stdin.isTTY) {
      throw new CliError('the input device is not a TTY')
    }
    // docker's fillConsoleSize: with -t, the terminal's size, or 0x0 when stdout is none
    const size = !tty
      ? undefined
      : process.stdout.isTTY
        ? (([w, h]) => [h, w])(process.stdout.getWindowSize())
        : [0, 0]
    const { Id: id } = await client.json<{ Id: string }>(
      'POST',
      `/containers/${encodeURIComponent(container)}/exec`,
      {
        // docker's ExecOptions, field for field
        body: {
          User: str(f, 'user'),
          Privileged: bool(f, 'privileged'),
          Tty: tty,
          ...(size ? { ConsoleSize: size } : {}),
          AttachStdin: attachStdin,
          AttachStderr: !detach,
          AttachStdout: !detach,
          Detach: detach,
          DetachKeys: detachKeys.keys,
          Env: env.length > 0 ? env : null,
          WorkingDir: str(f, 'workdir'),
          Cmd: cmd,
        },
      },
    )
    if (detach) {
      const res = await client.request('POST', `/exec/${id}/start`, {
        body: { Detach: true, Tty: tty, ...(size ? { ConsoleSize: size } : {}) },
      })
      res.resume()
      return 0
    }
    let restore = () => {}
    let stopResize = () => {}
    try {
      if (tty && attachStdin) restore = setRawTerminal()
      const h = await hijack(
        client,
        `/exec/${id}/start`,
        {},
        {
          Detach: false,
          Tty: tty,
          ...(size ? { ConsoleSize: size } : {}),
        },
      )
      const done = streamHijacked(h, {
        tty,
        stdin: attachStdin ? process.stdin : null,
        stdout: process.stdout,
        stderr: tty ? process.stdout : process.stderr,
        detachKeys: detachKeys.bytes,
      })
      if (tty && process.stdin.isTTY) stopResize = monitorTtySize(client, id, true)
      if (await done) throw new CliError('read escape sequence')
    } finally {
      stopResize()
      restore()
    }
    const info = await client.json<ExecInspect>('GET', `/exec/${id}/json`)
    return info.ExitCode ?? 0
  },
}
