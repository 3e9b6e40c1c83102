// A probe is an exec in the container, made and started through the engine's exec service
// (so it is confined as `docker exec` is, runs as the container's user in its working
// directory with its environment, and is seen as an exec), its output collected as Docker
// keeps it. An aborted probe gets SIGTERM, then SIGKILL 10 seconds later (dockerd's way).
import { Internal } from '../errors.ts'
import type { ExecApi } from '../container/types.ts'
import { LimitedOutput } from './machine.ts'
import type { ProbeOutcome, ProbeRunner } from './types.ts'

/** dockerd's termProcessTimeout: how long a TERM'd probe has before it is killed. */
const TERM_GRACE_MS = 10_000

export interface ExecProbeDeps {
  execs: Pick<ExecApi, 'createExec' | 'startExec' | 'inspectExec'>
  /** Sends a signal to a process of the host (the exec's pid, as the runtime reports it). */
  kill(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void
}

export class ExecProbeRunner implements ProbeRunner {
  constructor(private readonly deps: ExecProbeDeps) {}

  async run(containerId: string, cmd: string[], signal: AbortSignal): Promise<ProbeOutcome> {
    const { execs } = this.deps
    const { Id } = await execs.createExec(containerId, {
      Cmd: cmd,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Privileged: false,
    })
    const session = await execs.startExec(Id, { detach: false })
    if (!session) throw new Internal(`health check exec ${Id} gave no output stream`)
    const out = new LimitedOutput()
    let done = false
    let grace: NodeJS.Timeout | undefined
    const signalProcess = async (sig: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
      if (done) return
      try {
        const pid = (await execs.inspectExec(Id)).Pid
        if (!done && pid > 0) this.deps.kill(pid, sig)
      } catch {
        // The exec (or its container) is gone: nothing left to signal.
      }
    }
    const onAbort = (): void => {
      void signalProcess('SIGTERM')
      grace = setTimeout(() => void signalProcess('SIGKILL'), TERM_GRACE_MS)
      grace.unref()
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    try {
      for await (const chunk of session.output) out.write(chunk.data)
      const exitCode = await session.exited
      return { exitCode, output: out.toString() }
    } finally {
      done = true
      signal.removeEventListener('abort', onAbort)
      if (grace) clearTimeout(grace)
      session.close()
    }
  }
}
