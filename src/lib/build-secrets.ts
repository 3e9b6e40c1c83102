// The wire format of berth's extensions of POST /build (read in src/api/routes/build-secrets.ts):
// frames of a 4-byte big-endian length and a JSON object before the context tar. `berthsecrets=1`:
// `{"<id>": "<base64 content>"}` first; `berthcontext=KEY`: the synced context's listing
// `{"<path>": "<stat key>"}` next, and the tar holds only the files the daemon asked for.

/** BuildKit's limit for one secret is 500 KiB; the frame holds a few of them. */
export const MAX_SECRETS_FRAME = 4 * 1024 * 1024

/** The query parameter that says the body starts with the frame. */
export const SECRETS_QUERY = 'berthsecrets'

/** The query parameter that names a synced context: the body has its listing frame, then a tar. */
export const CONTEXT_QUERY = 'berthcontext'

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
