import type { CommandDef } from '../command.ts'
import { bool, err, forEach, out } from '../command.ts'
import { DaemonError, type Client } from '../client.ts'
import { berthOnly, lossReport, type TrashList, type Unsaved } from '../guard.ts'
import { confirm } from '../prompt.ts'

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Remove one or more containers',
  aliases: ['berth container rm', 'berth container remove', 'berth rm'],
  args: { min: 1 },
  flags: [
    {
      long: 'force',
      short: 'f',
      kind: 'bool',
      desc: 'Force the removal of a running container (uses SIGKILL)',
    },
    { long: 'link', short: 'l', kind: 'bool', desc: 'Remove the specified link' },
    {
      long: 'volumes',
      short: 'v',
      kind: 'bool',
      desc: 'Remove anonymous volumes associated with the container',
    },
  ],
  async run(ctx, f) {
    const client = await ctx.client()
    // berth's guard: someone at a terminal is told what would be lost and asked. -f, and
    // anything not typed at a terminal (scripts, pipes), keep docker's behaviour.
    const guarded = !bool(f, 'force') && process.stdin.isTTY === true
    let trashSeconds: number | undefined
    return forEach(f.args, async (n) => {
      const name = n.replace(/^\/+/, '')
      if (guarded) {
        const u = await unsavedOf(client, name)
        if (u?.Unsaved) {
          trashSeconds ??=
            (await berthOnly<TrashList>(client, 'GET', '/berth/v1/trash'))?.KeepSeconds ?? 0
          err(lossReport(u, trashSeconds))
          if (!(await confirm(`Remove container ${u.Name} and these changes?`, process.stderr))) {
            err(`Kept ${u.Name}.\n`)
            return
          }
        }
      }
      const res = await client.request('DELETE', `/containers/${encodeURIComponent(name)}`, {
        query: {
          force: bool(f, 'force') || undefined,
          v: bool(f, 'volumes') || undefined,
          link: bool(f, 'link') || undefined,
        },
      })
      res.resume()
      out(n + '\n')
    })
  },
}

/**
 * The container's changes, when they would be lost by this removal: a stopped container's,
 * measured now. A running one cannot be removed without -f (the daemon says so), and an
 * unknown name is the daemon's to report, so neither is asked about.
 */
async function unsavedOf(client: Client, name: string): Promise<Unsaved | undefined> {
  try {
    const u = await berthOnly<Unsaved>(
      client,
      'GET',
      `/berth/v1/containers/${encodeURIComponent(name)}/unsaved`,
    )
    return u?.Current ? u : undefined
  } catch (e) {
    if (e instanceof DaemonError) return undefined
    throw e
  }
}
