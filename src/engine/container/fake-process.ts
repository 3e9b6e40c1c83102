// The processes of the fake container engine (fake.ts): a few busybox commands, interpreted in
// memory with the behaviour a container's process shows through the API. It is PID 1 of its
// container, so only SIGKILL ends it (the kernel drops the other signals for an init that does
// not handle them), as `sleep` and `sh -c` do under runc. Commands: echo, cat, sleep, true,
// false, and `sh -c` scripts of those separated by `;` or newlines, with `exit N`, `>&2` and `$?`.
// Anything else is a command the image does not have.

export type Stream = 'stdout' | 'stderr'

/** How a fake process meets its container: its output, and its stdin (undefined at EOF). */
export interface FakeStdio {
  write(stream: Stream, data: Buffer): void
  read(): Promise<Buffer | undefined>
}

export interface FakeProcess {
  readonly pid: number
  /** The exit code: the command's own, or 128 + the signal that killed it. */
  readonly exit: Promise<number>
  signal(signo: number): void
}

/** The command is not in the image: the runtime's words, which Docker passes on. */
export class CommandNotFound extends Error {
  constructor(readonly command: string) {
    super(`exec: "${command}": executable file not found in $PATH`)
  }
}

const SIGKILL = 9
let nextPid = 4000

/** Starts argv; throws CommandNotFound, as the runtime's start would, for an unknown command. */
export function startFakeProcess(argv: string[], io: FakeStdio): FakeProcess {
  const name = argv[0] ?? ''
  if (!Object.hasOwn(COMMANDS, name)) throw new CommandNotFound(name)
  const killed = new AbortController()
  const ctx: Ctx = { io, killed: killed.signal, status: 0 }
  const dead = new Promise<number>((resolve) =>
    killed.signal.addEventListener('abort', () => resolve(128 + SIGKILL), { once: true }),
  )
  const ran = (COMMANDS[name] as Command)(argv.slice(1), ctx).catch(() => 128 + SIGKILL)
  return {
    pid: nextPid++,
    exit: Promise.race([ran, dead]),
    signal(signo) {
      if (signo === SIGKILL) killed.abort()
    },
  }
}

interface Ctx {
  io: FakeStdio
  killed: AbortSignal
  /** $? */
  status: number
}

class Exit {
  constructor(readonly code: number) {}
}

type Command = (args: string[], ctx: Ctx) => Promise<number>

const COMMANDS: Record<string, Command> = {
  async echo(args, ctx) {
    ctx.io.write('stdout', Buffer.from(`${args.join(' ')}\n`))
    return 0
  },
  async true() {
    return 0
  },
  async false() {
    return 1
  },
  async cat(_args, ctx) {
    for (;;) {
      const chunk = await ctx.io.read()
      if (chunk === undefined || ctx.killed.aborted) return 0
      ctx.io.write('stdout', chunk)
    }
  },
  async sleep(args, ctx) {
    const seconds = Number(args[0] ?? 0)
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, seconds * 1000)
      ctx.killed.addEventListener('abort', () => clearTimeout(t), { once: true })
    })
    return 0
  },
  async sh(args, ctx) {
    if (args[0] !== '-c' || args[1] === undefined) {
      // An interactive shell reads commands from stdin until EOF.
      let script = ''
      for (let c = await ctx.io.read(); c !== undefined; c = await ctx.io.read()) script += c
      return shell(script, ctx)
    }
    return shell(args[1], ctx)
  },
}

async function shell(script: string, ctx: Ctx): Promise<number> {
  try {
    for (const statement of script.split(/[;\n]/)) {
      const words = tokens(statement.trim(), ctx)
      if (words.length === 0) continue
      let stream: Stream = 'stdout'
      if (words.at(-1) === '>&2') {
        words.pop()
        stream = 'stderr'
      }
      const [name, ...rest] = words as [string, ...string[]]
      if (name === 'exit') throw new Exit(Number(rest[0] ?? ctx.status))
      const cmd = name === 'sh' || !Object.hasOwn(COMMANDS, name) ? undefined : COMMANDS[name]
      if (cmd === undefined) {
        ctx.io.write('stderr', Buffer.from(`sh: ${name}: not found\n`))
        ctx.status = 127
        continue
      }
      const io: FakeStdio =
        stream === 'stderr'
          ? { write: (_s, d) => ctx.io.write('stderr', d), read: ctx.io.read }
          : ctx.io
      ctx.status = await cmd(rest, { ...ctx, io })
      if (ctx.killed.aborted) return 128 + SIGKILL
    }
    return ctx.status
  } catch (err) {
    if (err instanceof Exit) return err.code
    throw err
  }
}

/** Words of one statement: whitespace splits, quotes group, `$?` expands outside '…'. */
function tokens(s: string, ctx: Ctx): string[] {
  const out: string[] = []
  for (const m of s.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) {
    if (m[1] !== undefined) out.push(m[1])
    else out.push((m[2] ?? m[3] ?? '').replaceAll('$?', String(ctx.status)))
  }
  return out
}
