// berth build: sends the context to POST /build and shows the build as BuildKit does (a live view
// on a terminal, plain lines otherwise).
// fs.promises is loaded only where a secret or --iidfile needs it (see credentials.ts)
import { promises as fsp, realpathSync } from 'node:fs'
import { basename } from 'node:path'
import type { Readable } from 'node:stream'
import {
  CONTEXT_DIGEST_QUERY,
  CONTEXT_PATH_QUERY,
  CONTEXT_QUERY,
  jsonFrame,
  SCAN_BUILD_PATH,
  SECRETS_QUERY,
  secretsFrame,
} from '../../lib/build-secrets.ts'
import { resolve } from 'node:path'
import {
  DaemonError,
  jsonLines,
  type Client,
  type JSONMessage,
  type RequestOptions,
} from '../client.ts'
import type { CommandDef } from '../command.ts'
import { bool, CliError, err, list, out, str } from '../command.ts'
import { registryConfigHeader } from '../credentials.ts'
import { useDirectStdio } from '../stdio.ts'
import { BuildProgress } from './build-progress.ts'
import { listing, scanDirectory } from './build-context.ts'

/** KEY=VALUE pairs for the API (`--build-arg KEY` takes KEY from this environment, as docker does). */
function keyValues(values: string[], fromEnv: boolean): Record<string, string | null> {
  const outMap: Record<string, string | null> = {}
  for (const v of values) {
    const eq = v.indexOf('=')
    if (eq < 0) outMap[v] = fromEnv ? (process.env[v] ?? null) : ''
    else outMap[v.slice(0, eq)] = v.slice(eq + 1)
  }
  return outMap
}

export const command: CommandDef = {
  usage: '[OPTIONS] PATH | -',
  short: 'Build an image from a Dockerfile',
  aliases: ['berth image build', 'berth builder build', 'berth build'],
  args: { min: 1, max: 1 },
  flags: [
    {
      long: 'add-host',
      kind: 'list',
      typeName: 'list',
      desc: 'Add a custom host-to-IP mapping ("host:ip")',
    },
    { long: 'build-arg', kind: 'list', typeName: 'list', desc: 'Set build-time variables' },
    {
      long: 'cache-from',
      kind: 'list',
      typeName: 'strings',
      desc: 'Images to consider as cache sources',
    },
    {
      long: 'file',
      short: 'f',
      kind: 'string',
      desc: "Name of the Dockerfile (Default is 'PATH/Dockerfile')",
    },
    { long: 'iidfile', kind: 'string', desc: 'Write the image ID to the file' },
    { long: 'label', kind: 'list', typeName: 'list', desc: 'Set metadata for an image' },
    {
      long: 'network',
      kind: 'string',
      desc: 'Set the networking mode for the RUN instructions during build',
      typeName: 'string',
    },
    { long: 'no-cache', kind: 'bool', desc: 'Do not use cache when building the image' },
    { long: 'platform', kind: 'string', desc: 'Set platform if server is multi-platform capable' },
    {
      long: 'progress',
      kind: 'string',
      desc: 'Set type of progress output ("auto", "plain", "tty", "quiet")',
    },
    { long: 'pull', kind: 'bool', desc: 'Always attempt to pull a newer version of the image' },
    {
      long: 'quiet',
      short: 'q',
      kind: 'bool',
      desc: 'Suppress the build output and print image ID on success',
    },
    {
      long: 'rm',
      kind: 'bool',
      desc: 'Remove intermediate containers after a successful build (always)',
    },
    { long: 'force-rm', kind: 'bool', desc: 'Always remove intermediate containers' },
    {
      long: 'secret',
      kind: 'list',
      typeName: 'stringArray',
      desc: 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")',
    },
    {
      long: 'tag',
      short: 't',
      kind: 'list',
      typeName: 'list',
      desc: 'Name and optionally a tag in the "name:tag" format',
    },
    { long: 'target', kind: 'string', desc: 'Set the target build stage to build.' },
  ],
  async run(ctx, f) {
    const path = f.args[0]!
    const progressFlag = str(f, 'progress') || 'auto'
    if (!['auto', 'plain', 'tty', 'quiet'].includes(progressFlag)) {
      throw new CliError(`invalid progress mode "${progressFlag}": use auto, plain, tty or quiet`)
    }
    const quiet = bool(f, 'quiet') || progressFlag === 'quiet'
    // process.stderr is asked only for a display: making it loads node:net and the streams, which
    // a quiet build's output does without (stdio.ts writes to the descriptors)
    const tty =
      !quiet &&
      (progressFlag === 'tty' || (progressFlag === 'auto' && process.stderr.isTTY === true))
    const mode = quiet ? 'quiet' : tty ? 'tty' : 'plain'
    if (quiet) useDirectStdio()
    const secrets = await readSecrets(list(f, 'secret'))
    const file = str(f, 'file')
    const client = await ctx.client()
    const labels = keyValues(list(f, 'label'), false)
    const query = {
      t: list(f, 'tag'),
      buildargs: JSON.stringify(keyValues(list(f, 'build-arg'), true)),
      labels: JSON.stringify(labels),
      target: str(f, 'target') || undefined,
      nocache: bool(f, 'no-cache') || undefined,
      pull: bool(f, 'pull') || undefined,
      q: quiet || undefined,
      networkmode: str(f, 'network') || undefined,
      extrahosts: list(f, 'add-host'),
      platform: str(f, 'platform') || undefined,
      berthprogress: true,
      rm: true,
      // berth's extension: the secrets go in a frame before the context (lib/build-secrets.ts).
      [SECRETS_QUERY]: secrets.size > 0 || undefined,
    }
    // config.json is read once, before the scan (credentials.ts reads it synchronously).
    const registryConfig = registryConfigHeader(ctx.config)
    // Its failure is the request's, when it is sent; a build that fails before must not crash.
    registryConfig.catch(() => undefined)
    const headers = async () => ({
      'Content-Type': 'application/x-tar',
      'X-Registry-Config': await registryConfig,
    })
    // the frames' module (with node:stream) is loaded only where a body is a stream
    const frames = async (rest: Readable, ...more: Buffer[]): Promise<Readable> => {
      const all = [...(secrets.size > 0 ? [secretsFrame(secrets)] : []), ...more]
      if (all.length === 0) return rest
      const { withFrames } = await import('./build-pack.ts')
      return withFrames(all, rest)
    }
    let res: AsyncIterable<unknown> | undefined
    if (path === '-') {
      if (file === '-')
        throw new CliError(
          "invalid argument: can't use stdin for both build context and dockerfile",
        )
      const { contextFromStdin } = await import('./build-pack.ts')
      const ctxTar = await contextFromStdin(process.stdin)
      res = await client.request('POST', '/build', {
        query: { ...query, dockerfile: ctxTar.dockerfile },
        body: await frames(ctxTar.tar),
        headers: await headers(),
      })
    } else if (/^(https?|git):\/\//.test(path) || path.startsWith('git@')) {
      throw new CliError(
        `unable to prepare context: remote build contexts (${path}) are not supported by berth`,
      )
    } else {
      const text = file === '-' ? (await readStdin()).toString('utf8') : undefined
      // A directory is synced: the daemon keeps a copy between builds and says which files it
      // needs, so an unchanged rebuild sends headers only. A daemon without it (dockerd) and a
      // context that changed while it was sent get the whole tar, as docker sends it.
      const real = realPath(path)
      for (let attempt = 0; attempt < 2 && res === undefined; attempt++) {
        const scanned = await scanDirectory(path, file === '-' ? '' : file, text)
        // Nothing changed since the daemon's copy (the common rebuild): one request with the
        // scan's bytes, which berthd hashes and compares with its copy's, with neither the
        // listing nor a tar (nor is the listing made: a string per path, nor a hash here).
        if (attempt === 0 && !scanned.extra) {
          res = await unchangedBuild(client, SCAN_BUILD_PATH, {
            query: { ...query, dockerfile: scanned.dockerfile, [CONTEXT_PATH_QUERY]: real },
            body:
              secrets.size > 0
                ? Buffer.concat([secretsFrame(secrets), scanned.scan])
                : scanned.scan,
            headers: await headers(),
          })
          if (res) break
        }
        const { contextKeyOf } = await import('../../lib/build-digest.ts')
        const key = contextKeyOf(real)
        const l = listing(scanned)
        const synced = await syncPlan(client, key, l)
        const { packScanned } = await import('./build-pack.ts')
        try {
          res = await client.request('POST', '/build', {
            query: {
              ...query,
              dockerfile: scanned.dockerfile,
              ...(synced ? { [CONTEXT_QUERY]: synced.key } : {}),
              // the digest the next unchanged rebuild names this listing by; a Dockerfile from
              // elsewhere is in the listing under a name made up each time, never in the digest
              ...(synced && !scanned.extra
                ? { [CONTEXT_DIGEST_QUERY]: await scanned.digest() }
                : {}),
            },
            body: synced
              ? await frames(packScanned(scanned, synced.needs), jsonFrame(synced.listing))
              : await frames(packScanned(scanned)),
            headers: await headers(),
          })
        } catch (e) {
          if (!(synced && e instanceof DaemonError && e.status === 409 && attempt === 0)) throw e
        }
      }
    }
    if (!res) throw new CliError('the build context kept changing while it was sent')
    const progress = new BuildProgress(mode, (s) => err(s), tty ? process.stderr.columns || 80 : 80)
    let imageId = ''
    let failure: string | undefined
    for await (const m of jsonLines<JSONMessage>(res)) {
      if (m.errorDetail?.message || m.error) {
        failure = m.errorDetail?.message ?? m.error
        continue
      }
      if (m.id === 'berth.build' && m.aux !== undefined) progress.handle(m.aux)
      else if (m.aux && typeof m.aux === 'object' && 'ID' in m.aux)
        imageId = String((m.aux as { ID: string }).ID)
      else if (quiet && m.stream?.startsWith('sha256:')) imageId = m.stream.trim()
    }
    progress.end()
    if (failure !== undefined) throw new CliError(`ERROR: failed to solve: ${failure}`)
    progress.finished(imageId, list(f, 'tag'))
    if (quiet) out(`${imageId}\n`)
    const iid = str(f, 'iidfile')
    if (iid) await fsp.writeFile(iid, imageId)
    return 0
  },
}

/**
 * `--secret id=ID[,src=FILE|,env=VAR][,type=file|env]`, as buildx reads it: without src or env,
 * the variable named ID when it is set, else the file named ID.
 */
async function readSecrets(specs: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const spec of specs) {
    let id = ''
    let file = ''
    let env = ''
    let type = ''
    for (const field of spec.split(',')) {
      const eq = field.indexOf('=')
      const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase()
      const value = eq < 0 ? '' : field.slice(eq + 1)
      if (eq < 0) throw new CliError(`invalid field '${field}' must be a key=value pair`)
      if (key === 'type') {
        if (value !== 'file' && value !== 'env')
          throw new CliError(`unsupported secret type ${JSON.stringify(value)}`)
        type = value
      } else if (key === 'id') id = value
      else if (key === 'source' || key === 'src') file = value
      else if (key === 'env') env = value
      else throw new CliError(`unexpected key '${key}' in '${field}'`)
    }
    if (type === 'env' && env === '') [env, file] = [file, '']
    if (id === '') id = env || (file ? basename(file) : '')
    if (id === '') throw new CliError(`secret ID missing from "${spec}"`)
    if (file === '' && env === '') {
      if (process.env[id] !== undefined) env = id
      else file = id
    }
    if (env !== '') {
      const v = process.env[env]
      if (v === undefined)
        throw new CliError(`secret ${id}: environment variable ${env} is not set`)
      out.set(id, Buffer.from(v))
    } else {
      try {
        out.set(id, await fsp.readFile(file))
      } catch (e) {
        throw new CliError(`failed to read secret ${id} from ${file}: ${(e as Error).message}`)
      }
    }
  }
  return out
}

/**
 * A directory's real path: the daemon keeps its synced context under it, hashed
 * (lib/build-digest.ts contextKeyOf).
 */
function realPath(dir: string): string {
  try {
    return realpathSync(dir)
  } catch {
    return resolve(dir)
  }
}

/** Which files the daemon needs of a synced context; undefined when it keeps none (dockerd). */
async function syncPlan(
  client: Client,
  key: string,
  l: Record<string, string>,
): Promise<{ key: string; listing: Record<string, string>; needs: Set<string> } | undefined> {
  try {
    const r = await client.json<{ Needs?: string[] }>('POST', '/berth/v1/build/context', {
      query: { key },
      body: { Listing: l },
    })
    return { key, listing: l, needs: new Set(r.Needs ?? []) }
  } catch (e) {
    if (e instanceof DaemonError && (e.status === 404 || e.status === 400)) return undefined
    throw e
  }
}

/**
 * The build of an unchanged synced context; undefined when the daemon's copy differs (its 409
 * says "build context:"; another 409 is the build's own error) or the daemon keeps none (404:
 * dockerd, or a berthd from before SCAN_BUILD_PATH, which has no such path).
 */
async function unchangedBuild(
  client: Client,
  path: string,
  opts: RequestOptions & { body: Buffer },
): Promise<AsyncIterable<Buffer> | undefined> {
  try {
    // its answer is the whole build's: on the pipe handle, without node:http (client.ts)
    return await client.requestStream('POST', path, opts)
  } catch (e) {
    if (
      e instanceof DaemonError &&
      (e.status === 404 || (e.status === 409 && /build context:/.test(e.message)))
    )
      return undefined
    throw e
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}
