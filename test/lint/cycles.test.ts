// No import cycle in src/ (issue 10): the check itself, then the tree.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { importCycles } from './cycles.ts'

const root = join(import.meta.dirname, '..', '..')

test('the check finds cycles through type imports and re-exports, not through import()', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cycles-'))
  const files: Record<string, string> = {
    'src/a/a.ts': "import { b } from './b.ts'\nexport const a = b",
    'src/a/b.ts': "import type { A } from './t.ts'\nexport const b: A = 1",
    'src/a/t.ts': "export type A = number\nexport { a } from './a.ts'",
    'src/lazy.ts': "export const f = () => import('./lone.ts')",
    'src/lone.ts': "import { f } from './lazy.ts'\nexport const g = f",
    'src/self.ts': "import { x } from './self.ts'\nexport const y = x",
    'src/ok.test.ts': "import { a } from './a/a.ts'\nexport const t = a",
  }
  try {
    for (const [p, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, p)), { recursive: true })
      await writeFile(join(dir, p), text)
    }
    assert.deepEqual(importCycles(dir), [
      ['src/a/a.ts', 'src/a/b.ts', 'src/a/t.ts'],
      ['src/self.ts'],
    ])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('src/ has no import cycle', () => {
  const cycles = importCycles(root)
  assert.deepEqual(cycles, [], cycles.map((c) => c.join(' -> ')).join('\n'))
})
