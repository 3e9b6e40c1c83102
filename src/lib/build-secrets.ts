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
// listingDigest of the listing. `berthcontextpath=REALPATH` (on POST /berth/v1/build/scan): the
// same as `berthcontextsame`, but the body (after a secrets frame) is the client's scan itself,
// which the daemon hashes (scanDigest) and keys by contextKeyOf(REALPATH): the CLI's unchanged
// rebuild then loads no hashing of its own. The digests are in build-digest.ts.

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

/** The query parameter of an unchanged rebuild that sends its scan: the context's real path. */
export const CONTEXT_PATH_QUERY = 'berthcontextpath'

/** Where berth's CLI sends an unchanged rebuild's scan (a daemon without it answers 404). */
export const SCAN_BUILD_PATH = '/berth/v1/build/scan'

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
