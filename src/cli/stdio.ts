// stdout and stderr for the everyday commands without Node's streams: process.stdout on a pipe
// is a net.Socket, and making it loads node:net and the stream modules and runs them for the
// first time, about 12M instructions (callgrind) of a command's 50M above `node -e 0`. In
// direct mode (the core bundle, core.ts) a write goes to the file descriptor at once with
// fs.writeSync. Once the descriptor refuses (EAGAIN on a non-blocking pipe, EPIPE ...) or
// anything touches process.stdout or process.stderr, that one goes through Node's stream from
// then on, as in the full CLI, so output is never reordered and errors stay Node's.
import { writeSync } from 'node:fs'

let direct = false
/** fd 1 and 2: written through process.stdout / process.stderr from now on */
const streamed = { 1: false, 2: false }

function stream(fd: 1 | 2): NodeJS.WriteStream {
  return fd === 1 ? process.stdout : process.stderr
}

/** Direct writes from now on, until a stream takes over (see above). */
export function useDirectStdio(): void {
  direct = true
  for (const fd of [1, 2] as const) {
    const name = fd === 1 ? 'stdout' : 'stderr'
    const d = Object.getOwnPropertyDescriptor(process, name)
    const get = d?.get
    if (!d || !get || !d.configurable) {
      streamed[fd] = true
      continue
    }
    Object.defineProperty(process, name, {
      ...d,
      get() {
        streamed[fd] = true
        return get.call(process) as NodeJS.WriteStream
      },
    })
  }
}

export function write(fd: 1 | 2, s: string | Buffer): void {
  if (!direct || streamed[fd]) {
    stream(fd).write(s)
    return
  }
  const buf = typeof s === 'string' ? Buffer.from(s) : s
  let at = 0
  try {
    while (at < buf.length) at += writeSync(fd, buf, at)
  } catch {
    stream(fd).write(buf.subarray(at))
  }
}

/** Exits once what went to stdout and stderr has drained, so piped output is never cut short. */
export function exitAfterFlush(code: number): void {
  const pending = ([1, 2] as const).filter((fd) => !direct || streamed[fd])
  if (pending.length === 0) process.exit(code)
  let left = pending.length
  const done = () => {
    if (--left === 0) process.exit(code)
  }
  for (const fd of pending) stream(fd).write('', done)
}
