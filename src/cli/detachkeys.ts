// The detach keys a command uses: its --detach-keys flag, else `detachKeys` from the client
// config ($BERTH_CONFIG, ~/.berth/config.json, then docker's config.json), checked as the
// docker CLI checks them.
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { CliError } from './command.ts'

const CTRL = '@abcdefghijklmnopqrstuvwxyz[\\]^_'

/** moby/term's ToBytes. */
export function keysToBytes(keys: string): number[] {
  const out: number[] = []
  for (const key of keys.split(',')) {
    if (key.length === 1) {
      out.push(key.charCodeAt(0) & 0xff)
      continue
    }
    const m = /^ctrl-(.)$/.exec(key)
    const i = m ? CTRL.indexOf(m[1] as string) : -1
    if (i >= 0) out.push(i)
    else if (key === 'DEL') out.push(127)
    else throw new Error(`Unknown character: '${key}'`)
  }
  return out
}

function configPaths(): string[] {
  const env = process.env.BERTH_CONFIG
  const paths: string[] = []
  if (env) paths.push(env.endsWith('.json') ? env : join(env, 'config.json'))
  paths.push(join(homedir(), '.berth', 'config.json'))
  paths.push(join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json'))
  return paths
}

/** `detachKeys` from the first client config file that has one. */
export async function configDetachKeys(): Promise<string> {
  for (const p of configPaths()) {
    let text: string
    try {
      text = await readFile(p, 'utf8')
    } catch {
      continue
    }
    try {
      const j = JSON.parse(text) as { detachKeys?: unknown }
      if (typeof j.detachKeys === 'string' && j.detachKeys !== '') return j.detachKeys
    } catch {
      // an unreadable config is the docker CLI's business, not a reason to fail here
    }
  }
  return ''
}

/** The keys string to send and the bytes to watch for; the docker CLI's words when invalid. */
export async function resolveDetachKeys(flag: string): Promise<{ keys: string; bytes: number[] }> {
  const keys = flag || (await configDetachKeys())
  if (!keys) return { keys: '', bytes: [16, 17] }
  try {
    return { keys, bytes: keysToBytes(keys) }
  } catch (e) {
    throw new CliError(`invalid detach keys (${keys}): ${(e as Error).message}`)
  }
}

/**
 * Watches typed input for the detach keys as the docker CLI does (moby/term's escape proxy):
 * a partial match is held back and sent if the sequence breaks.
 */
export class EscapeScanner {
  private pos = 0

  constructor(private readonly keys: readonly number[]) {}

  push(chunk: Buffer): { forward: Buffer; detached: boolean } {
    const out: number[] = []
    for (const b of chunk) {
      if (b === this.keys[this.pos]) {
        if (++this.pos === this.keys.length) return { forward: Buffer.from(out), detached: true }
        continue
      }
      for (let i = 0; i < this.pos; i++) out.push(this.keys[i] as number)
      this.pos = b === this.keys[0] ? 1 : 0
      if (this.pos === 0) out.push(b)
    }
    return { forward: Buffer.from(out), detached: false }
  }
}
