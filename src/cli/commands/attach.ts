import type { CommandDef } from '../command.ts'
import { bool, CliError, str } from '../command.ts'
import { attachContainer, proxySignals, startWait } from '../containerrun.ts'
import { resolveDetachKeys } from '../detachkeys.ts'
import { monitorTtySize, setRawTerminal } from '../hijack.ts'

interface Inspect {
  Id: string
  Config: { Tty: boolean; OpenStdin: boolean }
  State: { Running: boolean; Paused: boolean; Restarting: boolean }
}

export const command: CommandDef = {
  usage: '[OPTIONS] CONTAINER',
  short: 'Attach local standard input, output, and error streams to a running container',
  aliases: ['berth container attach', 'berth attach'],
  args: { min: 1, max: 1 },
  flags: [
    {
      long: 'detach-keys',
      kind: 'string',
      desc: 'Override the key sequence for detaching a container',
    },
    { long: 'no-stdin', kind: 'bool', desc: 'Do not attach STDIN' },
    // Not docker's: the tutorial berth follows writes `docker attach -it NAME`. Attach gives
    // a terminal when the container has one and stdin when it keeps stdin open, so these ask
    // for nothing more and are accepted without a word.
    { long: 'interactive', short: 'i', kind: 'bool', desc: 'Ignored', hidden: true },
    { long: 'tty', short: 't', kind: 'bool', desc: 'Ignored', hidden: true },
    {
      long: 'sig-proxy',
      kind: 'bool',
      def: true,
      desc: 'Proxy all received signals to the process',
    },
  ],
  async run(ctx, f) {
    const name = f.args[0] as string
    const detachKeys = await resolveDetachKeys(str(f, 'detach-keys'))
    const client = await ctx.client()
    const c = await client.json<Inspect>('GET', `/containers/${encodeURIComponent(name)}/json`)
    // docker's inspectContainerAndCheckState words.
    if (!c.State.Running)
      throw new CliError('You cannot attach to a stopped container, start it first')
    if (c.State.Paused)
      throw new CliError('You cannot attach to a paused container, unpause it first')
    if (c.State.Restarting) {
      throw new CliError('You cannot attach to a restarting container, wait until it is running')
    }
    const stdin = !bool(f, 'no-stdin') && c.Config.OpenStdin
    if (stdin && c.Config.Tty && !process.stdin.isTTY) {
      throw new CliError('the input device is not a TTY')
    }
    const { status } = await startWait(client, c.Id, 'not-running')
    let restore = () => {}
    let stopResize = () => {}
    let stopProxy = () => {}
    try {
      if (bool(f, 'sig-proxy') && !c.Config.Tty) stopProxy = proxySignals(client, c.Id)
      if (c.Config.Tty && stdin) restore = setRawTerminal()
      const { done } = await attachContainer(client, c.Id, {
        tty: c.Config.Tty,
        stdin,
        stdout: true,
        stderr: true,
        detachKeys,
      })
      if (c.Config.Tty && process.stdout.isTTY)
        stopResize = monitorTtySize(client, c.Id, false, true)
      if (await done) throw new CliError('read escape sequence')
    } finally {
      stopProxy()
      stopResize()
      restore()
    }
    return await status
  },
}
