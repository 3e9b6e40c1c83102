// berth's extension of POST /build for `--secret` (the classic API has no session to carry
// them): with `berthsecrets=1`, the body starts with a frame, a 4-byte big-endian length and that
// many bytes of JSON `{"<id>": "<base64 content>", ...}`, and the context tar follows. Secrets
// travel in the body, never in the URL or a header (which proxies and access logs keep), and
// stay in the daemon's memory for the build's length.
import type { Readable } from 'node:stream'
import { InvalidArgument } from '../../engine/errors.ts'
import { MAX_SECRETS_FRAME } from '../../lib/build-secrets.ts'

/** Exactly `n` bytes off a paused stream; what came beyond them is put back. */
async function readExactly(r: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let got = 0
  while (got < n) {
    const chunk = r.read() as Buffer | null
    if (chunk !== null) {
      parts.push(chunk)
      got += chunk.length
      continue
    }
    if (r.readableEnded || r.destroyed) break
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        r.off('readable', done)
        r.off('end', done)
        r.off('close', done)
        r.off('error', fail)
        resolve()
      }
      const fail = (err: Error) => {
        done()
        reject(err)
      }
      r.once('readable', done)
      r.once('end', done)
      r.once('close', done)
      r.once('error', fail)
    })
  }
  const all = Buffer.concat(parts)
  if (all.length < n) throw new InvalidArgument('the request body ended early')
  if (all.length > n) r.unshift(all.subarray(n))
  return all.subarray(0, n)
}

/** One frame (4-byte length, JSON object) off the front of the body. */
async function readFrame(body: Readable, what: string, max: number): Promise<object> {
  const len = (await readExactly(body, 4).catch(ended(what))).readUInt32BE(0)
  if (len > max) throw new InvalidArgument(`${what}: ${len} bytes is over the limit of ${max}`)
  const raw = await readExactly(body, len).catch(ended(what))
  let value: unknown
  try {
    value = JSON.parse(raw.toString('utf8'))
  } catch {
    // The parser's message could quote a secret: say only what went wrong.
    throw new InvalidArgument(`${what}: the frame is not a JSON object`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidArgument(`${what}: the frame is not a JSON object`)
  return value
}

function ended(what: string) {
  return (err: unknown): never => {
    if (err instanceof InvalidArgument) throw new InvalidArgument(`${what}: ${err.message}`)
    throw err
  }
}

/** The synced context's listing (berthcontext=KEY): path → stat, before the context tar. */
export async function readContextFrame(body: Readable): Promise<Record<string, string>> {
  const value = await readFrame(body, 'build context listing', 256 * 1024 * 1024)
  for (const v of Object.values(value))
    if (typeof v !== 'string')
      throw new InvalidArgument('build context listing: values must be strings')
  return value as Record<string, string>
}

/** Reads the secrets frame off the front of the body; the context tar is what is left. */
export async function readSecretsFrame(body: Readable): Promise<Map<string, Buffer>> {
  const value = await readFrame(body, 'build secrets', MAX_SECRETS_FRAME)
  const out = new Map<string, Buffer>()
  for (const [id, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string' || id === '')
      throw new InvalidArgument(`build secrets: secret ${JSON.stringify(id)} is not base64 text`)
    out.set(id, Buffer.from(v, 'base64'))
  }
  return out
}
