// The layering rules (eslint-layers.js) judged on small sources placed at real paths.
import { describe, test } from 'node:test'
import { join } from 'node:path'
import { RuleTester } from 'eslint'
import tseslint from 'typescript-eslint'
import berth from '../../eslint-layers.js'

const root = join(import.meta.dirname, '..', '..')
const at = (p: string): string => join(root, p)

// RuleTester reports through describe/it; node:test provides both.
RuleTester.describe = describe
RuleTester.it = test
RuleTester.itOnly = test.only

const tester = new RuleTester({
  languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' },
})

tester.run('layers', berth.rules.layers, {
  valid: [
    { filename: at('src/engine/container/x.ts'), code: "import { a } from '../../lib/units.ts'" },
    { filename: at('src/engine/container/x.ts'), code: "import { a } from '../errors.ts'" },
    { filename: at('src/api/routes/x.ts'), code: "import { a } from '../../engine/engine.ts'" },
    { filename: at('src/cli/commands/x.ts'), code: "import { a } from '../../lib/reference.ts'" },
    { filename: at('src/cli/x.ts'), code: "import { a } from 'node:fs'" },
    { filename: at('src/daemon/x.ts'), code: "import { a } from '../api/server.ts'" },
    // Tests and their helpers wire anything to anything.
    { filename: at('src/cli/x.test.ts'), code: "import { a } from '../engine/errors.ts'" },
    { filename: at('src/cli/testutil.ts'), code: "import { a } from '../../test/e2e/harness.ts'" },
  ],
  invalid: [
    {
      filename: at('src/engine/container/x.ts'),
      code: "import type { Ctx } from '../../api/router.ts'",
      errors: [{ messageId: 'layer' }],
    },
    {
      filename: at('src/engine/x.ts'),
      code: "export { a } from '../daemon/log.ts'",
      errors: [{ messageId: 'layer' }],
    },
    {
      filename: at('src/engine/image/x.ts'),
      code: "const m = await import('../../cli/main.ts')",
      errors: [{ messageId: 'layer' }],
    },
    {
      filename: at('src/cli/commands/x.ts'),
      code: "import { parseNamed } from '../../engine/reference/reference.ts'",
      errors: [{ messageId: 'layer' }],
    },
    {
      filename: at('src/cli/x.ts'),
      code: "import { request } from '../api/testing.ts'",
      errors: [{ messageId: 'layer' }],
    },
    {
      filename: at('src/lib/x.ts'),
      code: "import { InvalidArgument } from '../engine/errors.ts'",
      errors: [{ messageId: 'layer' }],
    },
    {
      filename: at('src/engine/x.ts'),
      code: "import { a } from '../../test/e2e/harness.ts'",
      errors: [{ messageId: 'outside' }],
    },
  ],
})

tester.run('boundaries', berth.rules.boundaries, {
  valid: [
    {
      filename: at('src/engine/container/x.ts'),
      code: "import type { A } from '../image/types.ts'",
    },
    { filename: at('src/engine/container/x.ts'), code: "import { a } from './store.ts'" },
    { filename: at('src/engine/container/x.ts'), code: "import { a } from '../sys/libc.ts'" },
    { filename: at('src/engine/container/x.ts'), code: "import { a } from '../tar/walk.ts'" },
    {
      filename: at('src/engine/image/x.ts'),
      code: "import { a } from '../reference/reference.ts'",
    },
    { filename: at('src/engine/image/x.ts'), code: "import { a } from '../digest.ts'" },
    {
      filename: at('src/api/routes/x.ts'),
      code: "import type { Engine } from '../../engine/engine.ts'",
    },
    {
      filename: at('src/daemon/wire.ts'),
      code: "import { A } from '../engine/container/service.ts'",
    },
    // Fakes wire real parts of other modules, as tests do.
    {
      filename: at('src/engine/container/fake-exec.ts'),
      code: "import { StartFailed } from '../runtime/runc.ts'",
    },
  ],
  invalid: [
    {
      filename: at('src/engine/container/x.ts'),
      code: "import { LocalImageStore } from '../image/local.ts'",
      errors: [{ messageId: 'module' }],
    },
    {
      filename: at('src/engine/container/fakeish.ts'),
      code: "import { StartFailed } from '../runtime/runc.ts'",
      errors: [{ messageId: 'module' }],
    },
    {
      filename: at('src/engine/engine.ts'),
      code: "import type { A } from './container/lifecycle.ts'",
      errors: [{ messageId: 'module' }],
    },
    {
      filename: at('src/api/routes/x.ts'),
      code: "import { EventBus } from '../../engine/events/bus.ts'",
      errors: [{ messageId: 'api' }],
    },
    {
      filename: at('src/api/x.ts'),
      code: "import type { Logger } from '../daemon/log.ts'",
      errors: [{ messageId: 'daemon' }],
    },
  ],
})
