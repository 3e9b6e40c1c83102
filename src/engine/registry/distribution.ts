// GET /distribution/{name}/json: what a reference resolves to in its registry, without pulling
// (moby's distribution router): the manifest or index's descriptor, and the platforms it holds,
// read from an index's entries or from a single manifest's config.
import { InvalidArgument } from '../errors.ts'
import {
  configPlatform,
  isConfigMediaType,
  MANIFEST_ACCEPT,
  parseManifest,
  // eslint-disable-next-line berth/boundaries -- the manifest code pull and push share (to move under image/types.ts or src/lib)
} from '../image/manifest.ts'
import { parseNamed, tagNameOnly } from '../reference/reference.ts'
import { readLimited } from './http.ts'
import { translatePullError } from './pull.ts'
import type { AuthConfig, CallOptions, DistributionInspect, RegistryClient } from './types.ts'

const MAX_CONFIG_BYTES = 8 << 20

export async function inspectDistribution(
  client: RegistryClient,
  refString: string,
  opts: CallOptions & { auth?: AuthConfig } = {},
): Promise<DistributionInspect> {
  const ref = tagNameOnly(parseNamed(refString))
  const signal = opts.signal ? { signal: opts.signal } : {}
  const repo = client.repository(ref, {
    ...(opts.auth ? { auth: opts.auth } : {}),
    actions: ['pull'],
  })
  try {
    const m = await repo.getManifest(ref.digest ?? ref.tag ?? 'latest', MANIFEST_ACCEPT, signal)
    const parsed = parseManifest(m.bytes, m.mediaType)
    const Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }
    if (parsed.kind === 'index') {
      const Platforms = parsed.index.manifests.flatMap((d) => (d.platform ? [d.platform] : []))
      return { Descriptor, Platforms }
    }
    const config = parsed.manifest.config
    if (!isConfigMediaType(config.mediaType) || config.size > MAX_CONFIG_BYTES) {
      throw new InvalidArgument(`unsupported media type ${config.mediaType} for the image config`)
    }
    const bytes = await readLimited(
      await repo.fetchBlob(config.digest, { size: config.size, ...signal }),
      MAX_CONFIG_BYTES,
      'image config',
    )
    const platform = configPlatform(JSON.parse(bytes.toString('utf8')) as object)
    return { Descriptor, Platforms: [platform] }
  } catch (err) {
    throw translatePullError(err, ref, opts.signal)
  }
}
