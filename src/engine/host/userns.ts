// The user namespace of a rootless berthd, made the way Podman and rootlesskit make theirs: a
// small holder process (`sleep infinity`, started by util-linux's unshare) owns a user
// namespace and a mount namespace, mapped through the setuid newuidmap/newgidmap from
// /etc/subuid and /etc/subgid: the user is root inside, and 1..N are the user's subordinate
// IDs. berthd re-executes itself inside them with nsenter. The holder outlives berthd, so conmon,
// the containers and their overlay mounts stay where a restarted berthd finds them again.
import { spawn } from 'node:child_process'
import { readFile, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgument } from '../errors.ts'

export interface SubIdRange {
  start: number
  count: number
}

export interface UserNsPlan {
  uid: number
  gid: number
  user: string
  subuid: SubIdRange
  subgid: SubIdRange
}

/**
 * The first range that /etc/subuid (or /etc/subgid) text gives a user, by name or by number
 * (shadow's newuidmap accepts both); undefined when there is none.
 */
export function subIdRange(
  text: string,
  who: { name: string; id: number },
): SubIdRange | undefined {
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (t === '' || t.startsWith('#')) continue
    const [owner, start, count] = t.split(':')
    if (owner !== who.name && owner !== String(who.id)) continue
    if (!/^\d+$/.test(start ?? '') || !/^[1-9]\d*$/.test(count ?? '')) continue
    return { start: Number(start), count: Number(count) }
  }
  return undefined
}

/** The user namespace a user may have, or a clear error naming the missing entry. */
export async function userNsPlan(
  who: { name: string; uid: number; gid: number; group: string },
  files: { subuid: string; subgid: string } = { subuid: '/etc/subuid', subgid: '/etc/subgid' },
): Promise<UserNsPlan> {
  const read = async (p: string): Promise<string> => {
    try {
      return await readFile(p, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ''
      throw err
    }
  }
  const subuid = subIdRange(await read(files.subuid), { name: who.name, id: who.uid })
  const subgid = subIdRange(await read(files.subgid), { name: who.name, id: who.uid })
  const missing = [...(subuid ? [] : [files.subuid]), ...(subgid ? [] : [files.subgid])]
  if (missing.length > 0 || !subuid || !subgid) {
    throw new InvalidArgument(
      `berth without root needs subordinate IDs for user "${who.name}" (uid ${who.uid}), ` +
        `and ${missing.join(' and ')} ${missing.length > 1 ? 'have' : 'has'} no entry for it: ` +
        `ask an administrator to add a line such as "${who.name}:100000:65536" to ` +
        `${missing.join(' and ')} (Debian's adduser writes one for new users; the range must ` +
        `not overlap another user's)`,
    )
  }
  return { uid: who.uid, gid: who.gid, user: who.name, subuid, subgid }
}

/**
 * unshare's command line for the holder: root inside is the user, 1..N the subordinate range.
 * `--map-users`/`--map-groups` make unshare run newuidmap/newgidmap for it (util-linux 2.38).
 * Mounts are slaves of the host's, so host mounts made later still show and ours never leak.
 * The holder says "ready" once it is mapped, then becomes `sleep infinity`.
 */
export function holderArgs(plan: UserNsPlan): string[] {
  return [
    '--user',
    '--map-root-user',
    `--map-users=${plan.subuid.start},1,${plan.subuid.count}`,
    `--map-groups=${plan.subgid.start},1,${plan.subgid.count}`,
    '--mount',
    '--propagation',
    'slave',
    '--',
    '/bin/sh',
    '-c',
    'echo ready; exec sleep infinity </dev/null >/dev/null 2>&1',
  ]
}

/** The uid_map a live holder of this plan has (as /proc/PID/uid_map prints it, fields only). */
export function expectedUidMap(plan: UserNsPlan): string {
  return `0 ${plan.uid} 1\n1 ${plan.subuid.start} ${plan.subuid.count}`
}

function normaliseMap(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '))
    .join('\n')
}

/** nsenter's command line that runs `argv` as root in the holder's namespaces. */
export function enterArgs(pid: number, argv: readonly string[]): string[] {
  return ['--target', String(pid), '--user', '--mount', '--', ...argv]
}

/** The holder recorded under execRoot, when it still lives and holds this plan's mapping. */
async function liveHolder(execRoot: string, plan: UserNsPlan): Promise<number | undefined> {
  let pid: number
  try {
    const text = (await readFile(join(execRoot, 'userns.pid'), 'utf8')).trim()
    if (!/^\d+$/.test(text)) return undefined
    pid = Number(text)
    // A reused pid would not have our namespace's mapping.
    const map = await readFile(`/proc/${pid}/uid_map`, 'utf8')
    if (normaliseMap(map) !== expectedUidMap(plan)) return undefined
    if ((await readlink(`/proc/${pid}/ns/user`)) === (await readlink('/proc/self/ns/user')))
      return undefined
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES') return undefined
    throw err
  }
  return pid
}

/**
 * The pid of the holder of this user's namespaces: the live one recorded under execRoot, or a
 * new one. The caller holds execRoot's lock, so two starts never make two holders.
 */
export async function ensureHolder(
  execRoot: string,
  plan: UserNsPlan,
  cmds: { unshare: string } = { unshare: 'unshare' },
): Promise<{ pid: number; created: boolean }> {
  const live = await liveHolder(execRoot, plan)
  if (live !== undefined) return { pid: live, created: false }
  const child = spawn(cmds.unshare, holderArgs(plan), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const pid = await new Promise<number>((resolve, reject) => {
    let out = ''
    const fail = (why: string): void =>
      reject(
        new InvalidArgument(
          `cannot make the user namespace for berth without root (${why})` +
            (stderr.trim() ? `: ${stderr.trim()}` : ''),
        ),
      )
    child.once('error', (e) => fail(e.message))
    child.once('exit', (code, sig) => fail(`unshare exited with ${code ?? sig}`))
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('ready\n') && child.pid !== undefined) resolve(child.pid)
    })
  })
  child.removeAllListeners('exit')
  child.stdout.destroy()
  child.stderr.destroy()
  child.unref()
  await writeFile(join(execRoot, 'userns.pid'), `${pid}\n`, { mode: 0o600 })
  return { pid, created: true }
}
