// The digests of berth's synced build contexts, the same on both sides (see build-secrets.ts for
// the wire format). Apart from build-secrets.ts so that the CLI's unchanged rebuild, which
// hashes nothing, never loads node:crypto (and the streams it brings): about 19M instructions,
// a sixth of the command's own.
import { createHash } from 'node:crypto'

/**
 * The digest of a synced context's listing, the same on both sides: every path and its stat key,
 * in sorted order (never the order an object or a JSON text happens to have).
 */
export function listingDigest(listing: Readonly<Record<string, string>>): string {
  const parts: string[] = []
  for (const k of Object.keys(listing).sort()) parts.push(k, listing[k]!)
  return createHash('sha256').update(parts.join('\0')).digest('hex')
}

/** The name a synced context is kept under: the context directory's real path, hashed. */
export function contextKeyOf(realPath: string): string {
  return createHash('sha256').update(realPath).digest('hex').slice(0, 32)
}

/**
 * The digest of a scan (berth's CLI, src/cli/commands/build-context.ts): a sha256 of its bytes
 * after a fixed prefix. The CLI names its listing by it at a sync (berthcontextdigest); on an
 * unchanged rebuild it sends the bytes and the daemon hashes them (berthcontextpath).
 */
export function scanDigest(chunks: Iterable<Uint8Array | string>): string {
  const h = createHash('sha256').update('berth scan 1\0')
  for (const c of chunks) h.update(c)
  return h.digest('hex')
}

/** The same digest of bytes as they arrive. */
export async function scanDigestOf(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256').update('berth scan 1\0')
  for await (const c of chunks) h.update(c)
  return h.digest('hex')
}

/** Random bytes as hex (names made up per build). */
export { randomBytes } from 'node:crypto'
