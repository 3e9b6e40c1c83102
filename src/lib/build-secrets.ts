// The wire format of berth's extensions of POST /build (read in src/api/routes/build-secrets.ts):
// frames of a 4-byte big-endian length and a JSON object before the context tar. `berthsecrets=1`:
// `{"<id>": "<base64 content>"}` first; `berthcontext=KEY`: the synced context's listing
// `{"<path>": "<stat key>"}` next, and the tar holds only the files the daemon asked for.
// `berthcontextsame=DIGEST` (with `berthcontext=KEY`, on POST /berth/v1/build): the client's
// listing has this digest, the same as the kept copy's, so the body has no listing and no tar;
// the daemon answers 409 when its copy's listing differs (the client then syncs as above).
// `berthcontextdigest=DIGEST` (with `berthcontext=KEY` and a listing): the digest the client will
// name this listing by in `berthcontextsame` (berth's CLI hashes its raw stat records, never
// making the listing's strings on an unchanged rebuild); without it, the daemon keeps
// listingDigest of the listing.
import { createHash } from 'node:crypto'

/** BuildKit's limit for one secret is 500 KiB; the frame holds a few of them. */
export const MAX_SECRETS_FRAME = 4 * 1024 * 1024

/** The query parameter that says the body starts with the frame. */
export const SECRETS_QUERY = 'berthsecrets'

/** The query parameter that names a synced context: the body has its listing frame, then a tar. */
export const CONTEXT_QUERY = 'berthcontext'

/** The query parameter of an unchanged synced context: its listing's digest (listingDigest). */
export const CONTEXT_SAME_QUERY = 'berthcontextsame'

/** The query parameter of a sync: the digest the client will name its listing by. */
export const CONTEXT_DIGEST_QUERY = 'berthcontextdigest'

/**
 * The digest of a synced context's listing, the same on both sides: every path and its stat key,
 * in sorted order (never the order an object or a JSON text happens to have).
 */
export function listingDigest(listing: Readonly<Record<string, string>>): string {
  const parts: string[] = []
  for (const k of Object.keys(listing).sort()) parts.push(k, listing[k]!)
  return createHash('sha256').update(parts.join('\0')).digest('hex')
}

/** A JSON object as one frame: 4-byte big-endian length, then the JSON. */
export function jsonFrame(value: object): Buffer {
  const json = Buffer.from(JSON.stringify(value))
  const len = Buffer.alloc(4)
  len.writeUInt32BE(json.length)
  return Buffer.concat([len, json])
}

/** The frame as berth's CLI writes it before the context tar. */
export function secretsFrame(secrets: ReadonlyMap<string, Buffer>): Buffer {
  const json = Buffer.from(
    JSON.stringify(Object.fromEntries([...secrets].map(([k, v]) => [k, v.toString('base64')]))),
  )
  const len = Buffer.alloc(4)
  len.writeUInt32BE(json.length)
  return Buffer.concat([len, json])
}
