import { createHash } from 'node:crypto'
import type { Digest } from '../lib/digest.ts'
import { InvalidArgument } from './errors.ts'

export type { Digest }

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s)
}

export function parseDigest(s: string): Digest {
  if (isDigest(s)) return s
  if (/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:/.test(s) && !s.startsWith('sha256:')) {
    throw new InvalidArgument(`unsupported digest algorithm: ${s}`)
  }
  throw new InvalidArgument(`invalid digest: ${JSON.stringify(s)}`)
}

/** The 64 hex characters of a digest. */
export function hex(d: Digest): string {
  return d.slice('sha256:'.length)
}

/** The 12-character short form Docker shows. */
export function shortId(d: Digest | string): string {
  return (d.startsWith('sha256:') ? d.slice(7) : d).slice(0, 12)
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}
