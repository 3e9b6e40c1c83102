// A real terminal for tests of interactive use: a tmux session on a private socket running
// bash, typed into and read back through tmux itself.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'

const TMUX = '/usr/bin/tmux'

export function tmux(sock: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(TMUX, ['-S', sock, ...args], (err, stdout, stderr) => {
      if (err) reject(new Error(`tmux ${args.join(' ')}: ${stderr || err.message}`))
      else resolve(stdout)
    })
  })
}

/** A terminal: a tmux session on a private socket running bash. */
export class Term {
  private constructor(
    private readonly dir: string,
    private readonly sock: string,
  ) {}

  static async start(env: Record<string, string>, shellInit: string): Promise<Term> {
    const dir = await mkdtemp('/tmp/bt-tmux-')
    const sock = join(dir, 's')
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`)
    await tmux(sock, [
      'new-session',
      '-d',
      '-x',
      '100',
      '-y',
      '30',
      'env',
      '-i',
      `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
      'TERM=xterm',
      ...vars,
      'bash',
      '--norc',
      '--noprofile',
    ])
    const t = new Term(dir, sock)
    await t.line(`PS1='$ '; ${shellInit}; clear`)
    return t
  }

  /** Types text and presses Enter. */
  async line(text: string): Promise<void> {
    await tmux(this.sock, ['send-keys', '-l', text])
    await tmux(this.sock, ['send-keys', 'Enter'])
  }

  keys(...keys: string[]): Promise<string> {
    return tmux(this.sock, ['send-keys', ...keys])
  }

  screen(): Promise<string> {
    return tmux(this.sock, ['capture-pane', '-p', '-S', '-'])
  }

  /** Polls the screen until it matches, failing with what it shows after ms. */
  async waitFor(re: RegExp, ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms
    for (;;) {
      const s = await this.screen()
      if (re.test(s)) return s
      if (Date.now() > deadline) throw new Error(`screen never matched ${re}:\n${s}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Polls until the last non-empty line of the screen (a prompt, say) matches. */
  async waitLast(re: RegExp, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms
    for (;;) {
      const lines = (await this.screen()).split('\n').filter((l) => l.trim() !== '')
      const last = lines[lines.length - 1] ?? ''
      if (re.test(last)) return
      if (Date.now() > deadline) {
        throw new Error(`last line never matched ${re}:\n${await this.screen()}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  resize(width: number, height: number): Promise<string> {
    return tmux(this.sock, ['resize-window', '-x', String(width), '-y', String(height)])
  }

  async stop(): Promise<void> {
    await tmux(this.sock, ['kill-server']).catch(() => undefined)
    await rm(this.dir, { recursive: true, force: true })
  }
}
