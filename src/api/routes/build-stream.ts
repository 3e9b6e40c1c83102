// The classic builder's output stream (`POST /build` without BuildKit), made from the engine's
// build events: "Step N/M : ...", " ---> Running in ...", the step's output (stderr in red, as
// moby colours it), " ---> Using cache", " ---> <id>". Stages that run at the same time are shown
// one after another, in Dockerfile order: a stage's lines wait until the stages before it are done,
// so the stream reads as the classic builder's would.
import type { BuildEvent, StepInfo } from '../../engine/builder/types.ts'
import type { JsonMessage } from '../stream.ts'

function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12)
}

export class ClassicStream {
  private steps: StepInfo[] = []
  /** Reachable stages in order, and the index of the one whose lines go out as they come. */
  private order: number[] = []
  private current = 0
  private readonly pending = new Map<number, JsonMessage[]>()
  private readonly finished = new Set<number>()
  private readonly lastStep = new Map<number, number>()

  constructor(private readonly write: (m: JsonMessage) => void) {}

  handle(e: BuildEvent): void {
    switch (e.type) {
      case 'plan':
        this.steps = e.steps
        this.order = [...new Set(e.steps.map((s) => s.stage))]
        for (const s of e.steps) this.lastStep.set(s.stage, s.index)
        return
      case 'start': {
        const s = this.steps[e.step]!
        this.emit(s.stage, { stream: `Step ${e.step + 1}/${this.steps.length} : ${s.text}` })
        this.emit(s.stage, { stream: '\n' })
        return
      }
      case 'running':
        this.emit(this.steps[e.step]!.stage, { stream: ` ---> Running in ${shortId(e.id)}\n` })
        return
      case 'output': {
        const text = e.data.toString('utf8')
        this.emit(this.steps[e.step]!.stage, {
          stream: e.stream === 'stderr' ? `\u001b[91m${text}\u001b[0m` : text,
        })
        return
      }
      case 'done': {
        const s = this.steps[e.step]!
        if (e.cached) this.emit(s.stage, { stream: ' ---> Using cache\n' })
        this.emit(s.stage, { stream: ` ---> ${e.id ? shortId(e.id) : ''}\n` })
        if (this.lastStep.get(s.stage) === e.step) this.finish(s.stage)
        return
      }
      case 'error':
        // The error itself goes out last, as the stream's error line; show what led to it now.
        this.flushAll()
        return
      case 'warning':
        this.write({ stream: `[Warning] ${e.message}\n` })
        return
      case 'pull':
        this.write({ status: e.status, id: e.ref })
        return
    }
  }

  private emit(stage: number, m: JsonMessage): void {
    if (this.order[this.current] === stage) this.write(m)
    else {
      const q = this.pending.get(stage) ?? []
      q.push(m)
      this.pending.set(stage, q)
    }
  }

  private finish(stage: number): void {
    this.finished.add(stage)
    while (this.current < this.order.length && this.finished.has(this.order[this.current]!)) {
      this.current++
      const next = this.order[this.current]
      if (next === undefined) break
      for (const m of this.pending.get(next) ?? []) this.write(m)
      this.pending.delete(next)
    }
  }

  /** Writes everything held back (the build ended early). */
  flushAll(): void {
    for (const stage of this.order.slice(this.current + 1)) {
      for (const m of this.pending.get(stage) ?? []) this.write(m)
      this.pending.delete(stage)
    }
    this.current = this.order.length
  }
}
