// Pull leases: the blobs and layers a pull is gathering, written down before its first byte
// arrives, so that the image store's garbage collection (at start-up) and image removal leave
// them alone until the image is recorded. A pull cut short (an error, a client gone, berthd
// killed) keeps its lease, so the next pull of the same image reuses every layer that was
// complete; a lease nobody finished is dropped at start-up once it is a day old, and what it
// held goes with the next collection.
//
// One file per image (named by its config digest) under <dataRoot>/registry/leases, written
// whole (temp, fsync, rename) and removed once the image record exists.
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { hex, isDigest, type Digest } from '../digest.ts'
import { errnoCode } from '../errors.ts'
import { readJson, writeJsonAtomic } from '../fsutil.ts'
import type { RetainedContent } from '../image/types.ts'

export interface LeaseContent {
  blobs: Digest[]
  layers: Digest[]
}

interface LeaseFile extends LeaseContent {
  /** ISO 8601; the lease expires a day after. */
  created: string
}

export const LEASE_MAX_AGE_MS = 24 * 60 * 60 * 1000

export class PullLeases implements RetainedContent {
  private readonly leases = new Map<string, LeaseFile>()

  constructor(
    private readonly dir: string,
    private readonly opts: { maxAgeMs?: number; now?: () => number } = {},
  ) {}

  /** Reads the leases left by earlier runs, dropping expired ones. Call before the image GC. */
  async init(): Promise<{ kept: number; expired: number }> {
    await mkdir(this.dir, { recursive: true })
    const now = (this.opts.now ?? Date.now)()
    const maxAge = this.opts.maxAgeMs ?? LEASE_MAX_AGE_MS
    let kept = 0
    let expired = 0
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name)
      const m = /^([a-f0-9]{64})\.json$/.exec(name)
      if (!m) {
        // A temporary file a crash left behind while a lease was written.
        if (name.startsWith('.tmp-')) await rm(path, { force: true })
        continue
      }
      let lease: LeaseFile | undefined
      try {
        lease = await readJson<LeaseFile>(path)
      } catch {
        lease = undefined // unreadable: nothing it held can be trusted to it
      }
      const created = lease ? Date.parse(lease.created) : NaN
      if (!lease || !(now - created < maxAge)) {
        await rm(path, { force: true })
        expired++
        continue
      }
      this.leases.set(m[1]!, {
        created: lease.created,
        blobs: (lease.blobs ?? []).filter(isDigest),
        layers: (lease.layers ?? []).filter(isDigest),
      })
      kept++
    }
    return { kept, expired }
  }

  /** Holds content for the image with this config digest (replacing what it held before). */
  async hold(image: Digest, content: LeaseContent): Promise<void> {
    const lease: LeaseFile = {
      created: new Date((this.opts.now ?? Date.now)()).toISOString(),
      blobs: [...new Set(content.blobs)],
      layers: [...new Set(content.layers)],
    }
    // In memory first: from now on neither rmi nor a collection may take it.
    this.leases.set(hex(image), lease)
    await writeJsonAtomic(join(this.dir, `${hex(image)}.json`), lease)
  }

  /** Lets go once the image record names everything the lease held. */
  async release(image: Digest): Promise<void> {
    this.leases.delete(hex(image))
    try {
      await rm(join(this.dir, `${hex(image)}.json`))
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err
    }
  }

  *blobs(): Iterable<Digest> {
    for (const l of this.leases.values()) yield* l.blobs
  }

  *layers(): Iterable<Digest> {
    for (const l of this.leases.values()) yield* l.layers
  }
}
