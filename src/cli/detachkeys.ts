// The detach keys a command uses: its --detach-keys flag, else `detachKeys` from the client
// config ($BERTH_CONFIG, ~/.berth/config.json, then docker's config.json), checked as the
// docker CLI checks them (their grammar and the scanner are src/lib/detachkeys.ts).
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../lib/detachkeys.ts'
import { CliError } from './command.ts'

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
  if (!keys) return { keys: '', bytes: [...DEFAULT_DETACH_KEYS] }
  try {
    return { keys, bytes: parseDetachKeys(keys) }
  } catch (e) {
    throw new CliError(`invalid detach keys (${keys}): ${(e as Error).message}`)
  }
}
