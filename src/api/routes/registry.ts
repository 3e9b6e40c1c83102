// The registry routes, as moby's image and system routers answer them: pull (POST /images/create
// with fromImage), push (POST /images/{name}/push) and POST /auth. Credentials come in Docker's
// X-Registry-Auth header; progress goes out as Docker's JSON messages, with the bar text the
// daemon draws for a 200-column line.
import type { Digest } from '../../engine/digest.ts'
import { InvalidArgument, NotFound } from '../../engine/errors.ts'
// eslint-disable-next-line berth/boundaries -- X-Registry-Auth decoding is wire format, kept beside the client it feeds (to move under src/lib)
import { authConfigFromJson, decodeAuthHeader } from '../../engine/registry/authconfig.ts'
import type { AuthConfig, RegistryApi, TransferProgress } from '../../engine/registry/types.ts'
import { progressString } from '../../lib/progress.ts'
import { readBody, readJson, sendJson } from '../http.ts'
import type { Ctx, Router } from '../router.ts'
import { JsonStream, type JsonMessage } from '../stream.ts'
import { versionAtLeast } from '../version.ts'

function registryOf(ctx: Ctx): RegistryApi {
  const r = ctx.engine.registry
  if (!r) throw new NotFound('this berthd reaches no registry')
  return r
}

/** A progress message as moby's stream formatter writes it: status, detail, bar text, id, aux. */
export function formatProgress(p: TransferProgress): JsonMessage {
  const out: JsonMessage = {}
  if (p.status !== undefined) out.status = p.status
  if (p.progressDetail !== undefined) {
    out.progressDetail = p.progressDetail
    const text = progressString(p.progressDetail)
    if (text !== '') out.progress = text
  }
  if (p.id !== undefined) out.id = p.id
  if (p.aux !== undefined) out.aux = p.aux
  return out
}

/** A tag or a digest given apart from the name, as the tag parameter carries either. */
function withTagParam(name: string, tag: string): string {
  if (tag === '') return name
  return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(tag)
    ? `${name}@${tag as Digest}`
    : `${name}:${tag}`
}

/** Whether a reference names a tag or a digest (else the API pulls or pushes every tag). */
function namesOne(ref: string): boolean {
  if (ref.includes('@')) return true
  const slash = ref.lastIndexOf('/')
  return ref.slice(slash + 1).includes(':')
}

/** POST /images/create?fromImage=NAME[&tag=TAG][&platform=P], moby's PullImage. */
export async function pullImage(ctx: Ctx, fromImage: string, tagParam: string): Promise<void> {
  const registry = registryOf(ctx)
  const ref = withTagParam(fromImage, tagParam)
  const platform = versionAtLeast(ctx.apiVersion, '1.32')
    ? ctx.query.get('platform') || undefined
    : undefined
  // A pull ignores credentials that do not decode, as Docker does.
  const { auth } = decodeAuthHeader(header(ctx, 'x-registry-auth'))
  const out = new JsonStream(ctx)
  try {
    await registry.pull(ref, {
      allTags: !namesOne(ref),
      ...(platform ? { platform } : {}),
      auth,
      signal: ctx.signal,
      progress: (p) => out.write(formatProgress(p)),
    })
  } catch (err) {
    out.fail(err)
  }
  out.end()
}

/** POST /images/{name}/push[?tag=TAG]: one tag, or every tag of the name when none is given. */
async function pushImage(ctx: Ctx): Promise<void> {
  const registry = registryOf(ctx)
  const name = ctx.params['name'] ?? ''
  const tag = ctx.query.get('tag') ?? ''
  let auth: AuthConfig
  const encoded = header(ctx, 'x-registry-auth')
  if (encoded) {
    auth = decodeAuthHeader(encoded).auth
  } else {
    // The old way: the AuthConfig as the body.
    const body = (await readBody(ctx)).toString('utf8')
    if (body.trim() === '')
      throw new InvalidArgument('Bad parameters and missing X-Registry-Auth: EOF')
    try {
      auth = authConfigFromJson(JSON.parse(body))
    } catch (err) {
      throw new InvalidArgument(
        `Bad parameters and missing X-Registry-Auth: ${(err as Error).message}`,
        { cause: err },
      )
    }
  }
  const ref = tag === '' ? name : `${name}:${tag}`
  const out = new JsonStream(ctx)
  try {
    await registry.push(ref, {
      allTags: !namesOne(ref),
      auth,
      signal: ctx.signal,
      progress: (p) => out.write(formatProgress(p)),
    })
  } catch (err) {
    out.fail(err)
  }
  out.end()
}

/** POST /auth: checks credentials with the registry, as `docker login` asks. */
async function postAuth(ctx: Ctx): Promise<void> {
  // The body is judged first: a malformed one is a 400 whatever the engine can reach.
  const auth = authConfigFromJson((await readJson<unknown>(ctx)) ?? null)
  const registry = registryOf(ctx)
  const r = await registry.login(auth, { signal: ctx.signal })
  sendJson(ctx, 200, { IdentityToken: r.identityToken ?? '', Status: r.status })
}

/** GET /distribution/{name}/json: the manifest's descriptor and platforms, from the registry. */
async function getDistribution(ctx: Ctx): Promise<void> {
  const registry = registryOf(ctx)
  const { auth } = decodeAuthHeader(header(ctx, 'x-registry-auth'))
  const info = await registry.distribution(ctx.params['name'] ?? '', { auth, signal: ctx.signal })
  sendJson(ctx, 200, info)
}

function header(ctx: Ctx, name: string): string | undefined {
  const v = ctx.req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

export function registryRoutes(r: Router): void {
  r.post('/images/{name:.*}/push', pushImage)
  r.post('/auth', postAuth)
  r.get('/distribution/{name:.*}/json', getDistribution)
}
