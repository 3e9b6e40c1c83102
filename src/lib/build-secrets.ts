// The wire format of berth's `--secret` extension of POST /build (see src/api/routes/build-secrets.ts):
// a 4-byte big-endian length, then JSON `{"<id>": "<base64 content>"}`, then the context tar.

/** BuildKit's limit for one secret is 500 KiB; the frame holds a few of them. */
export const MAX_SECRETS_FRAME = 4 * 1024 * 1024

/** The query parameter that says the body starts with the frame. */
export const SECRETS_QUERY = 'berthsecrets'

/** The frame as berth's CLI writes it before the context tar. */
export function secretsFrame(secrets: ReadonlyMap<string, Buffer>): Buffer {
  const json = Buffer.from(
    JSON.stringify(Object.fromEntries([...secrets].map(([k, v]) => [k, v.toString('base64')]))),
  )
  const len = Buffer.alloc(4)
  len.writeUInt32BE(json.length)
  return Buffer.concat([len, json])
}
