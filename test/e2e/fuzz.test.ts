// A bounded, seeded fuzz of the Engine API against a real berthd: a few hundred malformed
// requests (wrong types, bad JSON, odd paths and query values) must each get an answer below
// 500 within a few seconds, and the engine must still work afterwards. BERTH_FUZZ_SEED picks
// another seed; a failure prints the seed and the request, so it can be replayed.
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, test } from 'node:test'
import cliBodies from '../../src/api/testdata/docker-cli-bodies.json' with { type: 'json' }
import { bodyOperations } from '../../src/api/body.ts'
import { Router } from '../../src/api/router.ts'
import { defaultRouteSets } from '../../src/api/server.ts'
import { apiRequest, importBusybox, startBerthd, type Berthd } from './harness.ts'

const SEED = Number(process.env.BERTH_FUZZ_SEED ?? 20261207)
const REQUESTS = 300
const PER_REQUEST_MS = 10_000

// Operations that wait for something by design (a container's exit, an event, a client's
// stream) or reach out of the machine (pull): a fuzzer cannot tell their waiting from a hang.
const WAITING = new Set([
  'GET /events',
  'POST /containers/{id}/wait',
  'POST /containers/{id}/attach',
  'GET /containers/{id}/logs',
  'GET /containers/{id}/stats',
  'POST /exec/{id}/start',
  'POST /images/create',
])

/** mulberry32: small, seeded, good enough to spread requests. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const rand = prng(SEED)
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
const chance = (p: number): boolean => rand() < p

const STRINGS = [
  '',
  'fz',
  'busybox',
  'busybox:latest',
  'x'.repeat(300),
  '..',
  '../../etc',
  '/',
  'a b',
  'ü',
  '\u0000',
  '{}',
  '[',
  '-1',
  '9999999999999999999999',
  'sha256:' + 'a'.repeat(64),
  'a'.repeat(64),
  'true',
  'KILL',
  'RTMIN+99',
  '1h',
  '2024-13-45',
]

function randomScalar(): unknown {
  switch (Math.floor(rand() * 8)) {
    case 0:
      return pick(STRINGS)
    case 1:
      return Math.floor(rand() * 2 ** 40) * (chance(0.5) ? -1 : 1)
    case 2:
      return rand() * 1e30
    case 3:
      return chance(0.5)
    case 4:
      return null
    case 5:
      return 2 ** 70
    case 6:
      return -0.5
    default:
      return 0
  }
}

function randomValue(depth = 0): unknown {
  const r = rand()
  if (depth > 3 || r < 0.6) return randomScalar()
  if (r < 0.8) return Array.from({ length: Math.floor(rand() * 3) }, () => randomValue(depth + 1))
  const o: Record<string, unknown> = {}
  for (let i = 0; i < Math.floor(rand() * 3); i++) o[pick(STRINGS)] = randomValue(depth + 1)
  return o
}

/** A copy of `v` with one value somewhere inside replaced by a random one. */
function mutate(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || chance(0.2)) return randomValue()
  const copy: Record<string, unknown> | unknown[] = Array.isArray(v) ? [...v] : { ...v }
  const keys = Object.keys(copy)
  if (keys.length === 0) return randomValue()
  const k = pick(keys)
  ;(copy as Record<string, unknown>)[k] = mutate((copy as Record<string, unknown>)[k])
  return copy
}

const TEMPLATES: Record<string, unknown> = cliBodies.bodies

function body(op: string): { text?: string; type?: string } {
  const r = rand()
  if (r < 0.1) return {}
  if (r < 0.2)
    return {
      text: pick(['{', '{"a":', 'nul', '[1,', '\u00ff\u00fe', '{} {}', ' ']),
      type: 'application/json',
    }
  if (r < 0.25)
    return { text: '{"Image":"busybox"}', type: pick(['text/plain', 'application/x-tar', '']) }
  if (r < 0.3) return { text: JSON.stringify(nested(200)), type: 'application/json' }
  let base: unknown =
    TEMPLATES[op] ?? (bodyOperations().includes(op) ? { Image: 'busybox' } : randomValue())
  for (let i = 0; i < 1 + Math.floor(rand() * 3); i++) base = mutate(base)
  return { text: JSON.stringify(base), type: 'application/json' }
}

function nested(n: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < n; i++) v = { HostConfig: v }
  return v
}

const QUERY_KEYS = [
  't',
  'signal',
  'all',
  'limit',
  'filters',
  'force',
  'v',
  'name',
  'tail',
  'since',
  'until',
  'h',
  'w',
  'ps_args',
  'path',
  'container',
  'repo',
  'tag',
  'changes',
  'condition',
  'stream',
  'one-shot',
  'size',
  'noprune',
  'pause',
  'fromSrc',
  'names',
]

function query(): string {
  const q = new URLSearchParams()
  for (let i = 0; i < Math.floor(rand() * 4); i++) {
    const k = pick(QUERY_KEYS)
    const v =
      k === 'filters' && chance(0.5)
        ? JSON.stringify({
            [pick(['until', 'label', 'dangling', 'name', 'status', 'x'])]: [pick(STRINGS)],
          })
        : String(randomScalar())
    q.append(k, v)
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** Containers, execs and volumes the fuzz made: path parameters that name something real. */
const made: string[] = []

function path(pattern: string): string {
  return pattern.replace(
    /\{[^}]+\}/g,
    () => encodeURIComponent(made.length > 0 && chance(0.5) ? pick(made) : pick(STRINGS)) || 'x',
  )
}

/** One request with a deadline; resolves with the status, or rejects on a hang. */
function send(
  socket: string,
  method: string,
  url: string,
  b: { text?: string; type?: string },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (b.type !== undefined) headers['Content-Type'] = b.type
    // Node frames a DELETE's body only when told its length.
    if (b.text !== undefined) headers['Content-Length'] = String(Buffer.byteLength(b.text))
    const req = http.request(
      { socketPath: socket, method, path: url, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        )
        res.on('error', reject)
      },
    )
    req.setTimeout(PER_REQUEST_MS, () => {
      req.destroy()
      reject(new Error(`no answer in ${PER_REQUEST_MS} ms`))
    })
    req.on('error', reject)
    req.end(b.text)
  })
}

let berthd: Berthd

before(async () => {
  berthd = await startBerthd()
  await importBusybox(berthd)
})

after(async () => {
  await berthd?.stop()
})

test(`${REQUESTS} malformed requests (seed ${SEED}): no 5xx, no hang, an engine that still works`, async () => {
  const router = new Router()
  for (const add of defaultRouteSets) add(router)
  const ops = router.operations().filter((o) => !WAITING.has(o))
  const withBody = ops.filter((o) => bodyOperations().includes(o))
  const started = Date.now()
  const seen = new Map<number, number>()
  for (let i = 0; i < REQUESTS; i++) {
    // Half the requests go to operations that take a body, where the decoding lives.
    const op = chance(0.5) ? pick(withBody) : pick(ops)
    const [method, pattern] = op.split(' ') as [string, string]
    const url = (chance(0.3) ? '/v1.45' : '') + path(pattern) + query()
    const b = method === 'GET' || method === 'HEAD' ? {} : body(op)
    const what = `#${i} (seed ${SEED}) ${method} ${url} ${b.type ?? ''} ${(b.text ?? '').slice(0, 300)}`
    let r: { status: number; text: string }
    try {
      r = await send(berthd.socket, method, url, b)
    } catch (err) {
      assert.fail(`${what}: ${(err as Error).message}`)
    }
    assert.ok(r.status < 500, `${what}\n  -> ${r.status} ${r.text}`)
    if (r.status === 201) {
      const m = /"(?:Id|Name)":"([^"]+)"/.exec(r.text)
      if (m) made.push(m[1]!)
    }
    seen.set(r.status, (seen.get(r.status) ?? 0) + 1)
  }
  // The spread of answers shows the fuzz reached past the decoding too.
  assert.ok(
    (seen.get(400) ?? 0) > 0 && [...seen.keys()].some((s) => s !== 400),
    JSON.stringify([...seen]),
  )
  assert.ok(Date.now() - started < REQUESTS * PER_REQUEST_MS)
  if (process.env.BERTH_FUZZ_VERBOSE) console.log(JSON.stringify([...seen].sort()))

  // Still an engine: it answers, imports, and runs a container to its end (the fuzz may have
  // removed the image).
  assert.equal((await apiRequest(berthd, 'GET', '/_ping')).status, 200)
  await importBusybox(berthd)
  assert.equal((await apiRequest(berthd, 'GET', '/info')).status, 200)
  assert.equal((await apiRequest(berthd, 'GET', '/containers/json?all=1')).status, 200)
  const c = await apiRequest(berthd, 'POST', '/containers/create', {
    Image: 'busybox',
    Cmd: ['sh', '-c', 'exit 7'],
  })
  assert.equal(c.status, 201, c.body)
  const id = (JSON.parse(c.body) as { Id: string }).Id
  assert.equal((await apiRequest(berthd, 'POST', `/containers/${id}/start`)).status, 204)
  const w = await apiRequest(berthd, 'POST', `/containers/${id}/wait`)
  assert.equal((JSON.parse(w.body) as { StatusCode: number }).StatusCode, 7)
})
