// Records what a real engine makes of each corpus case, as the fixture the builder's corpus test
// compares berth with. Run as root, against Debian's dockerd started in a network namespace of its
// own (never the host's: --bridge=none there deletes the host's docker0), with a busybox image
// imported as busybox:latest:
//
//   ip netns add bb-oracle && ip -n bb-oracle link set lo up
//   nsenter --net=/var/run/netns/bb-oracle dockerd --data-root D --exec-root E -H unix://SOCK \
//     --iptables=false --ip-masq=false &
//   scripts/make-busybox-rootfs.sh /tmp/busybox.tar && DOCKER_HOST=unix://SOCK docker import \
//     /tmp/busybox.tar busybox:latest
//   DOCKER_HOST=unix://SOCK node --import tsx src/engine/builder/testdata/record-corpus.ts [CASE...]
//
// Each case is built twice: by BuildKit (Debian's docker 20.10 client with DOCKER_BUILDKIT=1) and
// by the classic builder (the v28 CLI, which has no buildx), from a copy of the context with the
// case's `oracle/` files laid over it: a case whose syntax BuildKit 0.8 predates has an equivalent
// there (case.json says why the two are equivalent).
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as tar from 'tar-stream'
import { caseDir, type CaseSpec, type EngineResult, type FileEntry } from './corpus.ts'

const run = promisify(execFile)
const CORPUS = new URL('./corpus/', import.meta.url).pathname

function hasControl(text: string): boolean {
  for (const ch of text) {
    const c = ch.charCodeAt(0)
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return true
  }
  return false
}

async function docker(
  bin: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  try {
    const r = await run(bin, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 26 })
    return { code: 0, out: r.stdout + r.stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? 1, out: (e.stdout ?? '') + (e.stderr ?? '') }
  }
}

/** The files of an image's root filesystem, read from `docker export`. */
async function listing(image: string): Promise<Map<string, FileEntry>> {
  const created = await docker('/usr/local/bin/docker', ['create', image, 'true'])
  if (created.code !== 0) throw new Error(`create ${image}: ${created.out}`)
  const id = created.out.trim().split('\n').pop()!
  try {
    const { stdout } = await run('/usr/local/bin/docker', ['export', id], {
      encoding: 'buffer',
      maxBuffer: 1 << 28,
    })
    return await readTar(stdout)
  } finally {
    await docker('/usr/local/bin/docker', ['rm', '-f', id])
  }
}

async function readTar(buf: Buffer): Promise<Map<string, FileEntry>> {
  const out = new Map<string, FileEntry>()
  const ex = tar.extract()
  const done = (async () => {
    for await (const entry of ex) {
      const h = entry.header
      const chunks: Buffer[] = []
      for await (const c of entry) chunks.push(c as Buffer)
      const path = '/' + h.name.replace(/^\.?\//, '').replace(/\/$/, '')
      if (path === '/') continue
      const e: FileEntry = {
        path,
        type: h.type === 'directory' ? 'dir' : h.type === 'symlink' ? 'symlink' : h.type,
        mode: ((h.mode ?? 0) & 0o7777).toString(8).padStart(4, '0'),
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
      }
      if (h.type === 'file') {
        const body = Buffer.concat(chunks)
        e.size = body.length
        e.sha256 = createHash('sha256').update(body).digest('hex')
        const text = body.toString('utf8')
        if (body.length <= 256 && !text.includes('\uFFFD') && !hasControl(text)) {
          e.content = text
        }
      }
      if (h.type === 'symlink' || h.type === 'link') e.link = h.linkname ?? ''
      out.set(path, e)
    }
  })()
  ex.end(buf)
  await done
  return out
}

// Files the runtime puts in every container's root, which are no part of the image.
const RUNTIME_FILES = new Set(['/.dockerenv', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf'])
const RUNTIME_DIRS = new Set(['/dev', '/proc', '/sys', '/etc', '/dev/pts', '/dev/shm'])

function changedFiles(base: Map<string, FileEntry>, img: Map<string, FileEntry>): FileEntry[] {
  const out: FileEntry[] = []
  for (const [p, e] of img) {
    if (RUNTIME_FILES.has(p) || p.startsWith('/dev/') || p.startsWith('/proc/')) continue
    if (p.startsWith('/sys/')) continue
    const b = base.get(p)
    if (b && JSON.stringify(b) === JSON.stringify(e)) continue
    // Directories the runtime made (mount points) for a scratch image.
    if (!b && RUNTIME_DIRS.has(p)) continue
    out.push(e)
  }
  for (const p of base.keys()) {
    if (!img.has(p)) out.push({ path: p, type: 'deleted', mode: '', uid: 0, gid: 0 })
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

const CONFIG_KEYS = [
  'User',
  'Env',
  'Cmd',
  'Entrypoint',
  'WorkingDir',
  'ExposedPorts',
  'Volumes',
  'Labels',
  'StopSignal',
  'OnBuild',
  'Shell',
  'Healthcheck',
] as const

interface Inspect {
  Author?: string
  Config: Record<string, unknown>
}

let busyboxFiles: Map<string, FileEntry> | undefined

async function build(
  spec: CaseSpec,
  dir: string,
  engine: 'buildkit' | 'classic',
): Promise<EngineResult> {
  const context = await mkdtemp(join(tmpdir(), 'corpus-'))
  await cp(join(dir, 'context'), context, { recursive: true, verbatimSymlinks: true })
  if (existsSync(join(dir, 'oracle'))) {
    await cp(join(dir, 'oracle'), context, { recursive: true, verbatimSymlinks: true })
  }
  for (const [p, t] of Object.entries(spec.symlinks ?? {})) await symlink(t, join(context, p))
  for (const [p, m] of Object.entries(spec.modes ?? {}))
    await chmod(join(context, p), parseInt(m, 8))
  const dockerfile = join(context, spec.dockerfile ?? 'Dockerfile')
  try {
    return await buildIn(spec, context, dockerfile, engine)
  } finally {
    await rm(context, { recursive: true, force: true })
  }
}

async function buildIn(
  spec: CaseSpec,
  context: string,
  dockerfile: string,
  engine: 'buildkit' | 'classic',
): Promise<EngineResult> {
  const tag = `corpus-${engine}:latest`
  const args = ['build', '-f', dockerfile, '-t', tag, '--no-cache']
  for (const [k, v] of Object.entries(spec.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`)
  if (spec.target) args.push('--target', spec.target)
  args.push(context)
  await docker('/usr/local/bin/docker', ['rmi', '-f', tag])
  const r =
    engine === 'buildkit'
      ? await docker('/usr/bin/docker', ['build', '--progress=plain', ...args.slice(1)], {
          DOCKER_BUILDKIT: '1',
        })
      : await docker('/usr/local/bin/docker', args, { DOCKER_BUILDKIT: '0' })
  if (r.code !== 0) {
    const lines = r.out
      .split('\n')
      .map((l) => l.trim())
      .filter(
        (l) => l !== '' && !l.startsWith('DEPRECATED') && !/^(Install the buildx|https:)/.test(l),
      )
    return { ok: false, error: lines[lines.length - 1] ?? `exit ${r.code}` }
  }
  const inspect = JSON.parse(
    (await docker('/usr/local/bin/docker', ['image', 'inspect', tag])).out,
  ) as Inspect[]
  const cfg = inspect[0]!.Config
  const config: Record<string, unknown> = {}
  for (const k of CONFIG_KEYS) {
    const v = cfg[k]
    if (
      v !== null &&
      v !== undefined &&
      v !== '' &&
      !(typeof v === 'object' && Object.keys(v).length === 0)
    ) {
      config[k] = v
    }
  }
  if (inspect[0]!.Author) config.Author = inspect[0]!.Author
  busyboxFiles ??= await listing('busybox:latest')
  const files = changedFiles(busyboxFiles, await listing(tag))
  const warnings = r.out
    .split('\n')
    .filter((l) => l.includes('[Warning]'))
    .map((l) => l.trim())
  return { ok: true, config, files, ...(warnings.length > 0 ? { warnings } : {}) }
}

async function main(): Promise<void> {
  const only = process.argv.slice(2)
  const names = only.length > 0 ? only : (await readdir(CORPUS)).sort()
  for (const name of names) {
    const dir = caseDir(name)
    const spec = JSON.parse(await readFile(join(dir, 'case.json'), 'utf8')) as CaseSpec
    const buildkit = await build(spec, dir, 'buildkit')
    const classic = await build(spec, dir, 'classic')
    await writeFile(
      join(dir, 'expected.json'),
      JSON.stringify({ buildkit, classic }, null, 2) + '\n',
    )
    console.log(
      `${name}: buildkit ${buildkit.ok ? 'ok' : buildkit.error}; classic ${classic.ok ? 'ok' : classic.error}`,
    )
  }
}

await main()
