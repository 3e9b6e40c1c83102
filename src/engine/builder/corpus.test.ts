// Builds every corpus case with berth's builder (real stores, overlayfs and runc) and compares the
// image config, the files and the errors with what Debian's BuildKit made of the same case
// (recorded in each case's expected.json by testdata/record-corpus.ts).
import assert from 'node:assert/strict'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { caseDir, type CaseSpec, type EngineResult, type Expected } from './testdata/corpus.ts'
import {
  caseContext,
  changedFiles,
  listImage,
  normalizeListing,
  tarDir,
  testEngine,
  type TestEngine,
} from './testkit.ts'

const CORPUS = new URL('./testdata/corpus/', import.meta.url).pathname

/**
 * The oracle's error text as modern BuildKit words it: the oracle is BuildKit 0.8, whose wrapper
 * prefixes and a few messages modern BuildKit changed (each rule names the change).
 */
export function modernError(oracle: string): string {
  return (
    oracle
      // The gRPC/frontend wrappers are no part of the problem.
      .replace(
        /^(failed to solve with frontend dockerfile\.v0: )?failed to create LLB definition: /,
        '',
      )
      .replace(/^failed to solve with frontend dockerfile\.v0: /, '')
      // BuildKit 0.9 added "on": "dockerfile parse error on line N".
      .replace(/^dockerfile parse error line (\d+):/, 'dockerfile parse error on line $1:')
      // BuildKit 0.10's flag parser reports the flag as written.
      .replace(/Unknown flag: (\S+)$/, 'unknown flag: --$1')
      // BuildKit 0.10's port parser lower-cased its messages.
      .replace(/Invalid containerPort: /, 'invalid containerPort: ')
  )
}

/** Berth's message without BuildKit's "(did you mean X?)" hint, which BuildKit 0.8 lacked. */
function withoutHint(message: string): string {
  return message.replace(/ \(did you mean [^)]*\?\)$/, '')
}

interface Case {
  name: string
  spec: CaseSpec
  expected: Expected
}

async function loadCases(): Promise<Case[]> {
  const out: Case[] = []
  for (const name of (await readdir(CORPUS)).sort()) {
    const dir = caseDir(name)
    const spec = JSON.parse(await readFile(join(dir, 'case.json'), 'utf8')) as CaseSpec
    const expected = JSON.parse(await readFile(join(dir, 'expected.json'), 'utf8')) as Expected
    out.push({ name, spec, expected })
  }
  return out
}

const cases = await loadCases()

describe('Dockerfile corpus against BuildKit', { concurrency: false }, () => {
  let engine: TestEngine
  before(async () => {
    engine = await testEngine()
  })
  after(async () => {
    await engine.close()
  })

  for (const c of cases) {
    test(`${c.name}: ${c.spec.about}`, async () => {
      const want: EngineResult =
        c.spec.expect === 'classic' ? c.expected.classic : c.expected.buildkit
      const dir = await caseContext(join(caseDir(c.name), 'context'), c.spec.modes, c.spec.symlinks)
      try {
        let result
        try {
          result = await engine.build(await tarDir(dir), {
            dockerfile: c.spec.dockerfile ?? 'Dockerfile',
            buildArgs: c.spec.buildArgs ?? {},
            ...(c.spec.target ? { target: c.spec.target } : {}),
            noCache: true,
          })
        } catch (err) {
          const message = (err as Error).message
          if (c.spec.error !== undefined) {
            assert.equal(message, c.spec.error)
            return
          }
          assert.ok(!want.ok, `berth failed where the oracle built the image: ${message}`)
          assert.equal(withoutHint(message).toLowerCase(), modernError(want.error).toLowerCase())
          return
        }
        assert.equal(
          c.spec.error,
          undefined,
          `berth built the image where it should fail with: ${c.spec.error}`,
        )
        assert.ok(
          want.ok,
          `berth built the image where the oracle failed with: ${want.ok ? '' : want.error}`,
        )
        const img = await engine.images.resolve(result.result.imageId)
        const config: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(img.config.config ?? {})) {
          if (
            v !== null &&
            v !== undefined &&
            v !== '' &&
            !(typeof v === 'object' && Object.keys(v).length === 0)
          )
            config[k] = v
        }
        if (img.config.author) config.Author = img.config.author
        assert.deepEqual(config, want.config)
        const base = await engine.images.resolve('busybox:latest')
        const toRefs = (ls: typeof img.layers) =>
          ls.map((l) => ({
            diffID: l.diffID,
            blob: l.blob,
            mediaType: l.mediaType,
            size: l.blobSize,
          }))
        const files = changedFiles(
          await listImage(engine, toRefs(base.layers)),
          await listImage(engine, toRefs(img.layers)),
        )
        const drop = new Set(c.spec.drop ?? [])
        assert.deepEqual(files, normalizeListing(want.files.filter((f) => !drop.has(f.path))))
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})
