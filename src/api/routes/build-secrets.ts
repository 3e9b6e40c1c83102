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
  if (all.length < n) throw new InvalidArgument('build secrets: the request body ended early')
  if (all.length > n) r.unshift(all.subarray(n))
  return all.subarray(0, n)
}

/** Reads the secrets frame off the front of the body; the context tar is what is left. */
export async function readSecretsFrame(body: Readable): Promise<Map<string, Buffer>> {
  const len = (await readExactly(body, 4)).readUInt32BE(0)
  if (len > MAX_SECRETS_FRAME)
    throw new InvalidArgument(
      `build secrets: ${len} bytes is over the limit of ${MAX_SECRETS_FRAME}`,
    )
  let value: unknown
  try {
    value = JSON.parse((await readExactly(body, len)).toString('utf8'))
  } catch (err) {
    if (err instanceof InvalidArgument) throw err
    // The parser's message could quote the secret: say only where it went wrong.
    throw new InvalidArgument('build secrets: the frame is not a JSON object')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidArgument('build secrets: the frame is not a JSON object')
  const out = new Map<string, Buffer>()
  for (const [id, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string' || id === '')
      throw new InvalidArgument(`build secrets: secret ${JSON.stringify(id)} is not base64 text`)
    out.set(id, Buffer.from(v, 'base64'))
  }
  return out
}
