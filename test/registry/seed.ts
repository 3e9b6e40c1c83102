// Content for registry tests: random blobs and a small OCI image manifest referencing them.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { sha256, type Digest } from '../../src/engine/digest.ts'

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
/** What Docker sends as Accept for a manifest. */
export const ACCEPT = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX]

export interface Blob {
  data: Buffer
  digest: Digest
  size: number
}

export function blob(data: Buffer | string): Blob {
  const b = Buffer.from(data)
  return { data: b, digest: sha256(b), size: b.length }
}

export function randomBlob(size: number): Blob {
  return blob(randomBytes(size))
}

/** Opens a blob's bytes in a few chunks, as pushBlob's `open` wants. */
export function opener(b: Blob, chunk = 16 << 10): () => Promise<Readable> {
  return async () => {
    const parts: Buffer[] = []
    for (let i = 0; i < b.data.length; i += chunk) parts.push(b.data.subarray(i, i + chunk))
    return Readable.from(parts)
  }
}

/** An OCI manifest for a config and layers (sizes as given, so a test can make them lie). */
export function manifestFor(config: Blob, layers: Blob[]): Blob {
  return blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
    }),
  )
}

export async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of s) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}
