// Image manifests and indexes in both formats (Docker's schema 2 and OCI's image spec): media
// types, the shapes, parsing with validation, serialisation, and the platform choice in an
// index. Shared by load and save, and by pull and push. No I/O.
import { isDigest, sha256, type Digest } from '../digest.ts'
import { InvalidArgument } from '../errors.ts'
import type { Compression } from '../compression.ts'
import type { Platform, PlatformMatcher } from './platform.ts'

export * from './platform.ts'

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  /** The empty descriptor's type (artifacts with no config). */
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  /** Schema 1, which Docker no longer pulls; named so it can be refused in words. */
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  layer: {
    none: 'application/vnd.oci.image.layer.v1.tar',
    gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  },
  /** Deprecated by OCI 1.1, still met in registries: layers a registry may not serve. */
  ociForeignLayer: {
    none: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
    gzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    zstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  },
  dockerLayer: {
    /** What Docker's own store keeps (and berth's commit writes): an uncompressed tar. */
    none: 'application/vnd.docker.image.rootfs.diff.tar',
    gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    /** Windows base layers, fetched from the descriptor's urls rather than the registry. */
    foreign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  },
} as const

/** What a registry client asks for in Accept, best first. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MEDIA.ociIndex,
  MEDIA.dockerList,
  MEDIA.ociManifest,
  MEDIA.dockerManifest,
]

/** A manifest or index larger than this is refused (Docker's distribution limit is 4 MiB). */
export const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024

export const ANNOTATION = {
  /** OCI: the tag (or full reference) an index entry is known by. */
  refName: 'org.opencontainers.image.ref.name',
  /** containerd and Docker 25+: the full reference of an index entry. */
  imageName: 'io.containerd.image.name',
  created: 'org.opencontainers.image.created',
  /** BuildKit's attestation manifests, which are no image to run. */
  dockerReferenceType: 'vnd.docker.reference.type',
  dockerReferenceDigest: 'vnd.docker.reference.digest',
} as const

export interface Descriptor {
  mediaType: string
  digest: Digest
  size: number
  urls?: string[]
  annotations?: Record<string, string>
  /** Base64 of the content itself, when embedded. */
  data?: string
  platform?: Platform
  artifactType?: string
}

/** An image manifest: OCI's, or Docker's schema 2 (same shape, other media types). */
export interface ImageManifest {
  schemaVersion: 2
  mediaType?: string
  artifactType?: string
  config: Descriptor
  layers: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

/** An image index: OCI's, or Docker's manifest list. */
export interface ImageIndex {
  schemaVersion: 2
  mediaType?: string
  artifactType?: string
  manifests: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex }

export function isIndexMediaType(t: string | undefined): boolean {
  return t === MEDIA.ociIndex || t === MEDIA.dockerList
}

export function isManifestMediaType(t: string | undefined): boolean {
  return t === MEDIA.ociManifest || t === MEDIA.dockerManifest
}

export function isConfigMediaType(t: string | undefined): boolean {
  return t === MEDIA.ociConfig || t === MEDIA.dockerConfig
}

const LAYER_TYPES: ReadonlyMap<string, Compression> = new Map<string, Compression>([
  [MEDIA.layer.none, 'none'],
  [MEDIA.layer.gzip, 'gzip'],
  [MEDIA.layer.zstd, 'zstd'],
  [MEDIA.ociForeignLayer.none, 'none'],
  [MEDIA.ociForeignLayer.gzip, 'gzip'],
  [MEDIA.ociForeignLayer.zstd, 'zstd'],
  [MEDIA.dockerLayer.none, 'none'],
  [MEDIA.dockerLayer.gzip, 'gzip'],
  [MEDIA.dockerLayer.foreign, 'gzip'],
])

/** The compression a layer media type declares; undefined when it is no layer type we know. */
export function layerCompression(t: string): Compression | undefined {
  return LAYER_TYPES.get(t)
}

export function isLayerMediaType(t: string): boolean {
  return LAYER_TYPES.has(t)
}

/** Layers a registry need not serve: fetched from their descriptor's urls, and never pushed. */
export function isNonDistributable(t: string): boolean {
  return (
    t === MEDIA.dockerLayer.foreign ||
    (Object.values(MEDIA.ociForeignLayer) as string[]).includes(t)
  )
}

/** The layer media type for a compression, in the OCI family (default) or Docker's. */
export function layerMediaType(c: Compression, family: 'oci' | 'docker' = 'oci'): string {
  if (family === 'oci') return MEDIA.layer[c]
  if (c === 'zstd') return MEDIA.layer.zstd // Docker's family has no zstd type; its tools use OCI's
  return MEDIA.dockerLayer[c]
}

// ---- validation

const MEDIA_TYPE_RE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/
const DIGEST_SHAPE_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/

type Json = Record<string, unknown>

function bad(what: string, msg: string): InvalidArgument {
  return new InvalidArgument(`invalid ${what}: ${msg}`)
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function optString(o: Json, k: string, what: string): string | undefined {
  const v = o[k]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw bad(what, `${k} must be a string`)
  return v
}

function optStrings(o: Json, k: string, what: string): string[] | undefined {
  const v = o[k]
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
    throw bad(what, `${k} must be a list of strings`)
  return [...(v as string[])]
}

function optAnnotations(o: Json, what: string): Record<string, string> | undefined {
  const v = o['annotations']
  if (v === undefined || v === null) return undefined
  if (!isObject(v) || Object.values(v).some((s) => typeof s !== 'string'))
    throw bad(what, 'annotations must map strings to strings')
  return { ...(v as Record<string, string>) }
}

function mediaTypeOf(o: Json, k: string, what: string, required: boolean): string | undefined {
  const t = optString(o, k, what)
  if (t === undefined) {
    if (required) throw bad(what, `${k} is missing`)
    return undefined
  }
  if (!MEDIA_TYPE_RE.test(t)) throw bad(what, `${k} ${JSON.stringify(t)} is not a media type`)
  return t
}

/** Checks a platform object from an index entry or a config. */
export function parsePlatformObject(v: unknown, what = 'platform'): Platform {
  if (!isObject(v)) throw bad(what, 'not an object')
  const architecture = optString(v, 'architecture', what)
  const os = optString(v, 'os', what)
  if (!architecture) throw bad(what, 'architecture is missing')
  if (!os) throw bad(what, 'os is missing')
  const p: Platform = { architecture, os }
  const osVersion = optString(v, 'os.version', what)
  if (osVersion) p['os.version'] = osVersion
  const osFeatures = optStrings(v, 'os.features', what)
  if (osFeatures) p['os.features'] = osFeatures
  const variant = optString(v, 'variant', what)
  if (variant) p.variant = variant
  const features = optStrings(v, 'features', what)
  if (features) p.features = features
  return p
}

/** Checks a descriptor: a media type, a sha256 digest, a size; the optional fields typed. */
export function parseDescriptor(v: unknown, what = 'descriptor'): Descriptor {
  if (!isObject(v)) throw bad(what, 'not an object')
  const mediaType = mediaTypeOf(v, 'mediaType', what, true)!
  const digest = v['digest']
  if (typeof digest !== 'string' || !DIGEST_SHAPE_RE.test(digest))
    throw bad(what, `digest ${JSON.stringify(digest)} is not a digest`)
  if (!isDigest(digest)) {
    throw bad(what, `unsupported digest ${JSON.stringify(digest)}: only sha256 is supported`)
  }
  const size = v['size']
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw bad(what, `size ${JSON.stringify(size)} is not a byte count`)
  const d: Descriptor = { mediaType, digest, size }
  const urls = optStrings(v, 'urls', what)
  if (urls) d.urls = urls
  const annotations = optAnnotations(v, what)
  if (annotations) d.annotations = annotations
  const data = optString(v, 'data', what)
  if (data !== undefined) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0)
      throw bad(what, 'data is not base64')
    if (sha256(Buffer.from(data, 'base64')) !== digest)
      throw bad(what, 'embedded data does not match the digest')
    d.data = data
  }
  if (v['platform'] !== undefined && v['platform'] !== null)
    d.platform = parsePlatformObject(v['platform'], `${what} platform`)
  const artifactType = mediaTypeOf(v, 'artifactType', what, false)
  if (artifactType) d.artifactType = artifactType
  return d
}

function schema1(): InvalidArgument {
  return new InvalidArgument(
    'support for Docker Image Format v1 and Docker Image manifest version 2, schema 1 has been removed: the image must be republished as Docker Image manifest v2, schema 2, or in the OCI format',
  )
}

/**
 * Parses a manifest or index from its bytes. `mediaType` is what the bytes were served or
 * described as (a registry's Content-Type, a parent descriptor); when it names a known type
 * the document must agree with it. Without it, the document's own mediaType decides, then
 * its shape. Refuses schema 1, unknown shapes, and fields of the wrong type.
 */
export function parseManifest(bytes: Uint8Array | string, mediaType?: string): ParsedManifest {
  const what = 'manifest'
  if (bytes.length > MANIFEST_SIZE_LIMIT)
    throw bad(what, `larger than ${MANIFEST_SIZE_LIMIT} bytes`)
  let doc: unknown
  try {
    doc = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw bad(what, `not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(doc)) throw bad(what, 'not a JSON object')
  const declared =
    mediaType === undefined ? undefined : mediaType.split(';')[0]!.trim().toLowerCase()
  const own = mediaTypeOf(doc, 'mediaType', what, false)
  if (
    declared === MEDIA.dockerSchema1 ||
    declared === MEDIA.dockerSchema1Signed ||
    own === MEDIA.dockerSchema1 ||
    own === MEDIA.dockerSchema1Signed ||
    doc['schemaVersion'] === 1
  ) {
    throw schema1()
  }
  const sv = doc['schemaVersion']
  // OCI requires schemaVersion; tools that write archives without it are still read.
  if (sv !== undefined && sv !== 2)
    throw bad(what, `unsupported schemaVersion ${JSON.stringify(sv)}`)
  const known = (t: string | undefined) => isIndexMediaType(t) || isManifestMediaType(t)
  if (known(declared) && own !== undefined && own !== declared) {
    throw bad(what, `mediaType in manifest should be '${declared}' not '${own}'`)
  }
  let kind: 'manifest' | 'index'
  const type = known(declared) ? declared : own
  if (isIndexMediaType(type)) kind = 'index'
  else if (isManifestMediaType(type)) kind = 'manifest'
  else if (type !== undefined) throw bad(what, `unsupported media type ${type}`)
  else if (doc['manifests'] !== undefined && (doc['config'] ?? doc['layers']) !== undefined)
    throw bad(what, 'it has both manifests and config or layers: cannot tell what it is')
  else if (doc['manifests'] !== undefined) kind = 'index'
  else if (doc['config'] !== undefined) kind = 'manifest'
  else throw bad(what, 'neither an image manifest nor an index')
  const resolved = type ?? (kind === 'index' ? MEDIA.ociIndex : MEDIA.ociManifest)

  const base: { mediaType?: string; artifactType?: string; annotations?: Record<string, string> } =
    {}
  if (own !== undefined) base.mediaType = own
  const artifactType = mediaTypeOf(doc, 'artifactType', what, false)
  if (artifactType) base.artifactType = artifactType
  const annotations = optAnnotations(doc, what)
  if (annotations) base.annotations = annotations
  const subject =
    doc['subject'] === undefined || doc['subject'] === null
      ? undefined
      : parseDescriptor(doc['subject'], 'subject descriptor')

  if (kind === 'index') {
    if (doc['config'] !== undefined || doc['layers'] !== undefined)
      throw bad('index', 'an index has no config or layers')
    if (!Array.isArray(doc['manifests'])) throw bad('index', 'manifests must be a list')
    const manifests = doc['manifests'].map((m, i) => parseDescriptor(m, `index entry ${i}`))
    const index: ImageIndex = { schemaVersion: 2, ...base, manifests }
    if (subject) index.subject = subject
    return { kind, mediaType: resolved, index }
  }
  if (doc['manifests'] !== undefined) throw bad(what, 'a manifest has no manifests list')
  const config = parseDescriptor(doc['config'], 'config descriptor')
  if (!Array.isArray(doc['layers'])) throw bad(what, 'layers must be a list')
  const layers = doc['layers'].map((l, i) => parseDescriptor(l, `layer descriptor ${i}`))
  const manifest: ImageManifest = { schemaVersion: 2, ...base, config, layers }
  if (subject) manifest.subject = subject
  return { kind, mediaType: resolved, manifest }
}

// ---- serialisation

function encodePlatform(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os }
  if (p['os.version']) out['os.version'] = p['os.version']
  if (p['os.features']) out['os.features'] = p['os.features']
  if (p.variant) out.variant = p.variant
  if (p.features) out.features = p.features
  return out
}

/** A descriptor with its fields in the image spec's order, so the bytes are stable. */
export function encodeDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size }
  if (d.urls) out.urls = d.urls
  if (d.annotations) out.annotations = d.annotations
  if (d.data !== undefined) out.data = d.data
  if (d.platform) out.platform = encodePlatform(d.platform)
  if (d.artifactType) out.artifactType = d.artifactType
  return out
}

/**
 * The bytes of a manifest or index, fields in the spec's order (schemaVersion, mediaType,
 * artifactType, config/manifests, layers, subject, annotations). Its digest is what a
 * registry or an OCI layout names it by: keep these exact bytes.
 */
export function encodeManifest(m: ImageManifest | ImageIndex): Buffer {
  const out: Record<string, unknown> = { schemaVersion: 2 }
  if (m.mediaType) out['mediaType'] = m.mediaType
  if (m.artifactType) out['artifactType'] = m.artifactType
  if ('manifests' in m) {
    out['manifests'] = m.manifests.map(encodeDescriptor)
  } else {
    out['config'] = encodeDescriptor(m.config)
    out['layers'] = m.layers.map(encodeDescriptor)
  }
  if (m.subject) out['subject'] = encodeDescriptor(m.subject)
  if (m.annotations) out['annotations'] = m.annotations
  return Buffer.from(JSON.stringify(out))
}

/** The descriptor of some bytes. */
export function descriptorOf(mediaType: string, bytes: Uint8Array): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.length }
}

// ---- platform choice

/** BuildKit's attestations (and other artifacts) sit in indexes beside images: never pick them. */
function isAttestation(d: Descriptor): boolean {
  return d.annotations?.[ANNOTATION.dockerReferenceType] === 'attestation-manifest'
}

/**
 * The entries of an index that may be the image for `matcher`, best first, as containerd's
 * images.Manifest orders them: entries whose platform matches, by preference; then entries that
 * name no platform, which the caller must check against the config's own platform.
 */
export function candidateManifests(index: ImageIndex, matcher: PlatformMatcher): Descriptor[] {
  const withPlatform: Descriptor[] = []
  const without: Descriptor[] = []
  for (const d of index.manifests) {
    if (isAttestation(d)) continue
    if (!d.platform) without.push(d)
    else if (matcher.match(d.platform)) withPlatform.push(d)
  }
  // Array.prototype.sort is stable: equal preference keeps the index's order.
  withPlatform.sort((a, b) => matcher.compare(a.platform!, b.platform!))
  return [...withPlatform, ...without]
}

/** containerd's words for an index with nothing for the platform. */
export function noMatchingManifest(digest: string, matcher: PlatformMatcher): InvalidArgument {
  const p = matcher.wanted
  const name = [p.os, p.architecture, p.variant].filter(Boolean).join('/')
  return new InvalidArgument(`no match for platform in manifest ${digest}: ${name}: not found`)
}

/** A config's platform (architecture, os, variant...), as an index entry would give it. */
export function configPlatform(config: {
  architecture?: string
  os?: string
  variant?: string
  'os.version'?: string
}): Platform {
  const p: Platform = { architecture: config.architecture ?? '', os: config.os ?? '' }
  if (config.variant) p.variant = config.variant
  if (config['os.version']) p['os.version'] = config['os.version']
  return p
}
