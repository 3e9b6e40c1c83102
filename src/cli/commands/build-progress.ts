// `berth build`'s display, from the build events berthd sends (aux messages with id berth.build):
// on a terminal a live view like BuildKit's (each step with its state, whether it came from the
// cache, its time, and the running step's last output lines, redrawn in place); otherwise, or with
// --progress=plain, BuildKit's plain lines (#N for each step, its output, DONE/CACHED/ERROR).
/** A step as the plan event lists it (berthd's BuildEvent, as JSON). */
interface StepInfo {
  index: number
  stage: number
  stageName: string
  text: string
  heavy: boolean
}

/** The build events berthd sends in its berth.build aux messages (output as text). */
type WireEvent =
  | { type: 'plan'; steps: StepInfo[] }
  | { type: 'start'; step: number }
  | { type: 'done'; step: number; cached: boolean; durationMs: number; id?: string }
  | { type: 'running'; step: number; id: string }
  | { type: 'output'; step: number; stream: 'stdout' | 'stderr'; data: string }
  | { type: 'error'; step: number; message: string; exitCode?: number }
  | { type: 'warning'; message: string }
  | { type: 'pull'; ref: string; status: string }

interface StepView {
  info: StepInfo
  label: string
  state: 'waiting' | 'running' | 'done' | 'cached' | 'error'
  started?: number
  ms?: number
  lines: string[]
  partial: string
  /** The plain display's #N, given when the step first shows. */
  vertex?: number
}

const TAIL = 6

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`
}

export class BuildProgress {
  private steps: StepView[] = []
  private readonly started = Date.now()
  private drawn = 0
  private timer: NodeJS.Timeout | undefined
  private vertices = 0
  private failed: StepView | undefined

  constructor(
    private readonly mode: 'tty' | 'plain' | 'quiet',
    private readonly write: (s: string) => void,
    private readonly columns = 100,
  ) {}

  handle(raw: unknown): void {
    const e = raw as WireEvent
    switch (e.type) {
      case 'plan': {
        const stages = new Set(e.steps.map((s) => s.stage))
        const perStage = new Map<number, number>()
        for (const s of e.steps) perStage.set(s.stage, (perStage.get(s.stage) ?? 0) + 1)
        const pos = new Map<number, number>()
        this.steps = e.steps.map((info) => {
          const n = (pos.get(info.stage) ?? 0) + 1
          pos.set(info.stage, n)
          const where =
            stages.size > 1
              ? `${info.stageName} ${n}/${perStage.get(info.stage)}`
              : `${n}/${perStage.get(info.stage)}`
          return {
            info,
            label: `[${where}] ${info.text.replace(/\s+/g, ' ')}`,
            state: 'waiting',
            lines: [],
            partial: '',
          }
        })
        break
      }
      case 'start': {
        const s = this.steps[e.step]!
        s.state = 'running'
        s.started = Date.now()
        if (this.mode === 'plain' && this.shown(s)) this.plain(s, `${s.label}`)
        break
      }
      case 'output': {
        const s = this.steps[e.step]!
        const text = s.partial + e.data
        const lines = text.split(/\r?\n/)
        s.partial = lines.pop() ?? ''
        for (const l of lines) {
          s.lines.push(l)
          if (this.mode === 'plain')
            this.plain(
              s,
              `${seconds(Date.now() - (s.started ?? Date.now()))
                .slice(0, -1)
                .padStart(5)} ${l}`,
            )
        }
        if (s.lines.length > 50) s.lines.splice(0, s.lines.length - 50)
        break
      }
      case 'done': {
        const s = this.steps[e.step]!
        this.flushPartial(s)
        s.state = e.cached ? 'cached' : 'done'
        s.ms = e.durationMs
        if (this.mode === 'plain' && this.shown(s))
          this.plain(s, e.cached ? 'CACHED' : `DONE ${seconds(e.durationMs)}`, true)
        break
      }
      case 'error': {
        const s = this.steps[e.step]!
        this.flushPartial(s)
        s.state = 'error'
        s.ms = Date.now() - (s.started ?? Date.now())
        this.failed = s
        if (this.mode === 'plain') this.plain(s, `ERROR: ${e.message}`, true)
        break
      }
      case 'warning':
        if (this.mode !== 'quiet') this.write(`WARNING: ${e.message}\n`)
        break
      default:
        break
    }
    if (this.mode === 'tty') this.schedule()
  }

  /** The steps a BuildKit display shows: FROM and what makes layers, not metadata. */
  private shown(s: StepView): boolean {
    return s.info.heavy || /^from\s/i.test(s.info.text)
  }

  private flushPartial(s: StepView): void {
    if (s.partial === '') return
    s.lines.push(s.partial)
    if (this.mode === 'plain')
      this.plain(
        s,
        `${seconds(Date.now() - (s.started ?? Date.now()))
          .slice(0, -1)
          .padStart(5)} ${s.partial}`,
      )
    s.partial = ''
  }

  private plain(s: StepView, text: string, last = false): void {
    s.vertex ??= ++this.vertices
    this.write(`#${s.vertex} ${text}\n${last ? '\n' : ''}`)
  }

  private schedule(): void {
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.render()
    }, 80)
  }

  private render(): void {
    const out: string[] = []
    const visible = this.steps.filter((s) => this.shown(s) && s.state !== 'waiting')
    const done = this.steps.filter((s) => s.state === 'done' || s.state === 'cached').length
    out.push(`[+] Building ${seconds(Date.now() - this.started)} (${done}/${this.steps.length})`)
    for (const s of visible) {
      const prefix =
        s.state === 'cached' ? ' => CACHED ' : s.state === 'error' ? ' => ERROR ' : ' => '
      const ms = s.ms ?? Date.now() - (s.started ?? Date.now())
      const time = seconds(ms)
      const width = Math.max(20, this.columns - time.length - 2)
      let line = `${prefix}${s.label}`
      if (line.length > width) line = `${line.slice(0, width - 3)}...`
      out.push(`${line.padEnd(width)}  ${time}`)
      if (s.state === 'running') {
        for (const l of [...s.lines, ...(s.partial ? [s.partial] : [])].slice(-TAIL)) {
          out.push(`\u001b[2m => => # ${l}`.slice(0, this.columns + 4) + '\u001b[0m')
        }
      }
    }
    let s = this.drawn > 0 ? `\u001b[${this.drawn}A` : ''
    for (const l of out) s += `\u001b[2K${l}\n`
    // Lines left over from a longer drawing before are cleared.
    for (let i = out.length; i < this.drawn; i++) s += '\u001b[2K\n'
    if (out.length < this.drawn) s += `\u001b[${this.drawn - out.length}A`
    this.drawn = out.length
    this.write(s)
  }

  /** Draws the final state (and, after a failure, the failed step's last output lines). */
  end(): void {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.mode === 'tty') this.render()
    const f = this.failed
    if (f && this.mode !== 'quiet') {
      const tail = f.lines.slice(-10)
      this.write(`------\n > ${f.label}:\n${tail.join('\n')}${tail.length ? '\n' : ''}------\n`)
    }
  }

  /** The lines after a successful build, in BuildKit's words. */
  finished(imageId: string, tags: string[]): void {
    if (this.mode === 'quiet') return
    const lines = [`writing image ${imageId}`, ...tags.map((t) => `naming to ${t}`)]
    if (this.mode === 'plain') {
      const n = ++this.vertices
      this.write(
        `#${n} exporting to image\n${lines.map((l) => `#${n} ${l} done\n`).join('')}#${n} DONE 0.0s\n`,
      )
    } else {
      this.write(lines.map((l) => ` => => ${l}\n`).join(''))
    }
  }
}
