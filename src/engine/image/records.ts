// Where the image store keeps what is not content: one record per image and one references
// file, each written whole (temp, fsync, rename), so a crash leaves the old version or the new.
// The store sees them through ImageMetadataStore; fake.ts keeps the same in memory.
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { hex, isDigest, type Digest } from '../digest.ts'
import { errnoCode } from '../errors.ts'
import { readJson, writeJsonAtomic } from '../fsutil.ts'
import type { LayerDescriptor } from './types.ts'

/** An image as recorded: its config is the content store's blob named by `id`. */
export interface ImageRecord {
  id: Digest
  layers: LayerDescriptor[]
  parent?: Digest
  addedAt: string
  repoDigests: string[]
}

export interface ImageMetadataStore {
  /** Every record and the references (familiar tagged reference → image ID) last written. */
  read(): Promise<{ records: ImageRecord[]; refs: Record<string, string> }>
  writeRecord(r: ImageRecord): Promise<void>
  /** Absent is fine. */
  deleteRecord(id: Digest): Promise<void>
  writeRefs(refs: Record<string, string>): Promise<void>
}

/** Records as <dir>/metadata/<hex>.json and references in <dir>/references.json. */
export class FileImageMetadata implements ImageMetadataStore {
  private readonly recordDir: string
  private readonly refsFile: string

  constructor(dir: string) {
    this.recordDir = join(dir, 'metadata')
    this.refsFile = join(dir, 'references.json')
  }

  async read(): Promise<{ records: ImageRecord[]; refs: Record<string, string> }> {
    await mkdir(this.recordDir, { recursive: true })
    const records: ImageRecord[] = []
    for (const name of await readdir(this.recordDir)) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) {
        // A temporary file left by a crash during writeJsonAtomic.
        if (name.startsWith('.tmp-')) await rm(join(this.recordDir, name), { force: true })
        continue
      }
      const record = await readJson<ImageRecord>(join(this.recordDir, name))
      if (record && isDigest(record.id)) records.push(record)
    }
    const refs = (await readJson<{ refs: Record<string, string> }>(this.refsFile))?.refs ?? {}
    return { records, refs }
  }

  async writeRecord(r: ImageRecord): Promise<void> {
    await writeJsonAtomic(join(this.recordDir, `${hex(r.id)}.json`), r)
  }

  async deleteRecord(id: Digest): Promise<void> {
    try {
      await rm(join(this.recordDir, `${hex(id)}.json`))
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    }
  }

  async writeRefs(refs: Record<string, string>): Promise<void> {
    await writeJsonAtomic(this.refsFile, { refs })
  }
}
