// What berth knows about blobs on registries (Docker's "v2 metadata"): which repositories a blob
// was pulled from or pushed to, so a push can ask the registry to mount it from there instead of
// uploading it again; and, for a layer kept uncompressed here, the gzip blob a push made of it,
// so the next push can find it already on the registry ("Layer already exists") without
// compressing the layer again. Knowledge only: a stale entry costs one HEAD or one refused mount.
//
// One small JSON file, <dataRoot>/registry/sources.json, rewritten whole after each change.
import { dirname } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { isDigest, type Digest } from '../digest.ts'
import { readJson, writeJsonAtomic } from '../fsutil.ts'

/** A repository on a registry: localhost:5000 and library/busybox. */
export interface RepositoryName {
  registry: string
  repository: string
}

/** A compressed blob made from an uncompressed layer. */
export interface CompressedBlob {
  digest: Digest
  size: number
  mediaType: string
}

interface SourcesFile {
  blobs: Record<string, RepositoryName[]>
  compressed: Record<string, CompressedBlob>
}

/** Repositories remembered per blob, newest first. */
const MAX_REPOS_PER_BLOB = 5

export class BlobSources {
  private data: SourcesFile = { blobs: {}, compressed: {} }
  private writing: Promise<void> = Promise.resolve()
  private dirty = false

  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true })
    let stored: Partial<SourcesFile> | undefined
    try {
      stored = await readJson<Partial<SourcesFile>>(this.file)
    } catch {
      stored = undefined // unreadable knowledge is only lost knowledge
    }
    this.data = { blobs: stored?.blobs ?? {}, compressed: stored?.compressed ?? {} }
  }

  /** Repositories the blob is known to be in, newest first. */
  repositoriesOf(blob: Digest): RepositoryName[] {
    return [...(this.data.blobs[blob] ?? [])]
  }

  /** The gzip blob a push made from this uncompressed layer, if any. */
  compressedOf(diffID: Digest): CompressedBlob | undefined {
    const c = this.data.compressed[diffID]
    return c && isDigest(c.digest) ? { ...c } : undefined
  }

  /** Remembers that the repository holds the blob. */
  async seen(blob: Digest, where: RepositoryName): Promise<void> {
    const list = (this.data.blobs[blob] ?? []).filter(
      (r) => r.registry !== where.registry || r.repository !== where.repository,
    )
    this.data.blobs[blob] = [{ ...where }, ...list].slice(0, MAX_REPOS_PER_BLOB)
    await this.save()
  }

  async compressed(diffID: Digest, blob: CompressedBlob): Promise<void> {
    this.data.compressed[diffID] = { ...blob }
    await this.save()
  }

  /** Writes the file, coalescing changes made while a write is under way. */
  private save(): Promise<void> {
    this.dirty = true
    const p = this.writing.then(async () => {
      if (!this.dirty) return
      this.dirty = false
      await writeJsonAtomic(this.file, this.data)
    })
    this.writing = p.catch(() => undefined)
    return p
  }
}
