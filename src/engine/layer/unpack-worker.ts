// The unpack thread: reads the tar bytes the daemon's main thread hands over and writes each
// layer's files with synchronous calls (writer.ts), several layers at once, each into its own
// directory. Each message is handled whole before the next, so a buffer is done with when its
// message is, and goes straight back to the main thread for reuse (unpack.ts): the bytes in
// flight stay a few fixed buffers, and this thread makes no garbage of them.
import { parentPort } from 'node:worker_threads'
import { BerthError } from '../errors.ts'
import { LayerUnpack } from './writer.ts'
import type { FromWorker, ToWorker } from './unpack.ts'

const port = parentPort
if (port === null) throw new Error('unpack-worker.ts runs only as a worker thread')

const jobs = new Map<number, LayerUnpack>()

function send(m: FromWorker, transfer?: ArrayBuffer[]): void {
  port!.postMessage(m, transfer)
}

function fail(id: number, err: unknown): void {
  jobs.get(id)?.close()
  jobs.delete(id)
  send({
    t: 'error',
    id,
    code: err instanceof BerthError ? err.code : 'internal',
    message:
      err instanceof BerthError
        ? err.message
        : `unpacking layer: ${err instanceof Error ? err.message : String(err)}`,
  })
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'start':
      try {
        jobs.set(m.id, new LayerUnpack(m.root, m.allowDevices))
      } catch (err) {
        fail(m.id, err)
      }
      return
    case 'data': {
      const job = jobs.get(m.id)
      try {
        job?.push(Buffer.from(m.buf, 0, m.len))
      } catch (err) {
        fail(m.id, err)
      }
      send({ t: 'ack', id: m.id, buf: m.buf }, [m.buf])
      return
    }
    case 'end': {
      const job = jobs.get(m.id)
      if (job === undefined) return // it failed already, and said so
      try {
        const r = job.finish()
        jobs.delete(m.id)
        send({ t: 'done', id: m.id, diffID: r.diffID, size: r.size })
      } catch (err) {
        fail(m.id, err)
      }
      return
    }
    case 'abort':
      if (jobs.has(m.id)) fail(m.id, new Error('aborted'))
      return
  }
})
