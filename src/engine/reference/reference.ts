// The engine's image references: Docker's grammar from src/lib/reference.ts (shared with the
// CLI), whose parse errors are InvalidArgument here.
import * as grammar from '../../lib/reference.ts'
import type { AnyReference, Reference } from '../../lib/reference.ts'
import { parsed } from '../grammar.ts'

export type { AnyReference, Reference }
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarName,
  familiarString,
  fullString,
  isNameOnly,
  tagNameOnly,
  withDigest,
} from '../../lib/reference.ts'

/** distribution/reference Parse: no normalisation; the domain is empty unless one is spelled out. */
export const parseRaw = (s: string): Reference => parsed(() => grammar.parseRaw(s))

/** ParseNormalizedNamed: "busybox" → docker.io/library/busybox (no tag added). */
export const parseNamed = (s: string): Reference => parsed(() => grammar.parseNamed(s))

/** parseNamed, then the default tag: busybox → docker.io/library/busybox:latest. */
export const parseReference = (s: string): Reference => parsed(() => grammar.parseReference(s))

/** ParseDockerRef: a tag next to a digest is dropped; the default tag added. */
export const parseDockerRef = (s: string): Reference => parsed(() => grammar.parseDockerRef(s))

/** A name, or a bare 64-hex ID ("sha256:<hex>"), as ParseAnyReference. */
export const parseAnyReference = (s: string): AnyReference =>
  parsed(() => grammar.parseAnyReference(s))

export const withTag = (ref: Reference, tag: string): Reference =>
  parsed(() => grammar.withTag(ref, tag))
