// Docker image references, parsed and normalised the way github.com/distribution/reference
// does it (regexp.go, reference.go, normalize.go), with the same error words. The grammar
// alone: the engine's reference module turns its errors into InvalidArgument, and the CLI
// prints them.
import type { Digest } from './digest.ts'
import { ParseError } from './errors.ts'

export const DEFAULT_DOMAIN = 'docker.io'
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io'
const OFFICIAL_REPO_PREFIX = 'library/'
export const DEFAULT_TAG = 'latest'
const NAME_TOTAL_LENGTH_MAX = 255

const alphanumeric = '[a-z0-9]+'
const separator = '(?:[._]|__|[-]+)'
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]'
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`
const host = `(?:${domainName}|${ipv6address})`
const domainAndPort = `${host}(?::[0-9]+)?`
const tagPat = '[\\w][\\w.-]{0,127}'
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}'
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`
const remoteName = `${pathComponent}(?:/${pathComponent})*`
const namePat = `(?:${domainAndPort}/)?${remoteName}`

const referenceRe = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`)
const anchoredNameRe = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`)
const anchoredTagRe = new RegExp(`^${tagPat}$`)
const anchoredIdentifierRe = /^[a-f0-9]{64}$/

/** A parsed, normalised reference: docker.io/library/busybox:latest has domain docker.io, path library/busybox. */
export interface Reference {
  domain: string
  path: string
  tag?: string
  digest?: Digest
  /** domain/path, e.g. docker.io/library/busybox */
  name: string
  /** The short form Docker shows, e.g. busybox:latest or localhost:5000/x@sha256:... */
  familiar: string
}

function make(domain: string, path: string, tag?: string, digest?: Digest): Reference {
  const ref: Reference = { domain, path, name: domain ? `${domain}/${path}` : path, familiar: '' }
  if (tag !== undefined) ref.tag = tag
  if (digest !== undefined) ref.digest = digest
  ref.familiar = familiarString(ref)
  return ref
}

/** go-digest's Parse, limited to sha256 (the only algorithm berth stores). */
function parseRefDigest(s: string): Digest {
  const i = s.indexOf(':')
  const alg = s.slice(0, i)
  const enc = s.slice(i + 1)
  if (alg === 'sha256') {
    if (!/^[a-f0-9]+$/.test(enc)) throw new ParseError('invalid checksum digest format')
    if (enc.length !== 64) throw new ParseError('invalid checksum digest length')
    return `sha256:${enc}`
  }
  throw new ParseError('unsupported digest algorithm')
}

/** distribution/reference Parse: no normalisation; the domain is empty unless one is spelled out. */
export function parseRaw(s: string): Reference {
  const m = referenceRe.exec(s)
  if (!m) {
    if (s === '') throw new ParseError('repository name must have at least one component')
    if (referenceRe.test(s.toLowerCase())) throw new ParseError('repository name must be lowercase')
    throw new ParseError('invalid reference format')
  }
  if (m[1].length > NAME_TOTAL_LENGTH_MAX) {
    throw new ParseError(
      `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`,
    )
  }
  const nm = anchoredNameRe.exec(m[1])
  const domain = nm?.[1] ?? ''
  const path = nm ? nm[2] : m[1]
  const digest = m[3] ? parseRefDigest(m[3]) : undefined
  return make(domain, path, m[2] || undefined, digest)
}

function splitDockerDomain(name: string): [string, string] {
  const i = name.indexOf('/')
  if (i < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name]
  const maybeDomain = name.slice(0, i)
  const rest = name.slice(i + 1)
  let domain: string
  let remainder: string
  if (maybeDomain === 'localhost') [domain, remainder] = [maybeDomain, rest]
  else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) [domain, remainder] = [DEFAULT_DOMAIN, rest]
  else if (/[.:]/.test(maybeDomain)) [domain, remainder] = [maybeDomain, rest]
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remainder] = [maybeDomain, rest]
  else [domain, remainder] = [DEFAULT_DOMAIN, name]
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/'))
    remainder = OFFICIAL_REPO_PREFIX + remainder
  return [domain, remainder]
}

/** distribution/reference ParseNormalizedNamed: "busybox" → docker.io/library/busybox (no tag added). */
export function parseNamed(s: string): Reference {
  if (anchoredIdentifierRe.test(s)) {
    throw new ParseError(
      `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`,
    )
  }
  const [domain, remainder] = splitDockerDomain(s)
  const sep = remainder.indexOf(':')
  const remote = sep >= 0 ? remainder.slice(0, sep) : remainder
  if (remote.toLowerCase() !== remote) {
    throw new ParseError(`invalid reference format: repository name (${remote}) must be lowercase`)
  }
  const ref = parseRaw(`${domain}/${remainder}`)
  return ref
}

/** parseNamed, then the default tag when neither tag nor digest is given: busybox → docker.io/library/busybox:latest. */
export function parseReference(s: string): Reference {
  return tagNameOnly(parseNamed(s))
}

/** distribution/reference ParseDockerRef: a tag next to a digest is dropped; the default tag added. */
export function parseDockerRef(s: string): Reference {
  const ref = parseNamed(s)
  if (ref.digest !== undefined && ref.tag !== undefined)
    return make(ref.domain, ref.path, undefined, ref.digest)
  return tagNameOnly(ref)
}

export function tagNameOnly(ref: Reference): Reference {
  if (ref.tag === undefined && ref.digest === undefined)
    return make(ref.domain, ref.path, DEFAULT_TAG)
  return ref
}

/** A reference that is either a name or a bare 64-hex ID ("sha256:<hex>"), as ParseAnyReference. */
export type AnyReference = { kind: 'named'; ref: Reference } | { kind: 'digest'; digest: Digest }

export function parseAnyReference(s: string): AnyReference {
  if (anchoredIdentifierRe.test(s)) return { kind: 'digest', digest: `sha256:${s}` }
  if (/^sha256:[a-f0-9]{64}$/.test(s)) return { kind: 'digest', digest: s as Digest }
  return { kind: 'named', ref: parseNamed(s) }
}

export function withTag(ref: Reference, tag: string): Reference {
  if (!anchoredTagRe.test(tag)) throw new ParseError('invalid tag format')
  return make(ref.domain, ref.path, tag)
}

export function withDigest(ref: Reference, digest: Digest): Reference {
  return make(ref.domain, ref.path, undefined, digest)
}

/** The name Docker shows: busybox for docker.io/library/busybox, user/x for docker.io/user/x. */
export function familiarName(ref: { domain: string; path: string }): string {
  if (ref.domain !== DEFAULT_DOMAIN) return ref.domain ? `${ref.domain}/${ref.path}` : ref.path
  const p = ref.path
  if (p.startsWith(OFFICIAL_REPO_PREFIX) && !p.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
    return p.slice(OFFICIAL_REPO_PREFIX.length)
  }
  return p
}

function suffix(ref: { tag?: string; digest?: Digest }): string {
  return (
    (ref.tag !== undefined ? `:${ref.tag}` : '') +
    (ref.digest !== undefined ? `@${ref.digest}` : '')
  )
}

export function familiarString(ref: {
  domain: string
  path: string
  tag?: string
  digest?: Digest
}): string {
  return familiarName(ref) + suffix(ref)
}

/** The fully qualified string, e.g. docker.io/library/busybox:latest. */
export function fullString(ref: {
  domain: string
  path: string
  tag?: string
  digest?: Digest
}): string {
  return (ref.domain ? `${ref.domain}/${ref.path}` : ref.path) + suffix(ref)
}

export function isNameOnly(ref: Reference): boolean {
  return ref.tag === undefined && ref.digest === undefined
}
