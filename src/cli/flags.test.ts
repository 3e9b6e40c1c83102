import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FlagError, parseFlags, flagUsages } from './flags.ts'
import type { FlagDef } from './flags.ts'

const defs: FlagDef[] = [
  { long: 'env', short: 'e', kind: 'list', desc: 'Set environment variables' },
  { long: 'interactive', short: 'i', kind: 'bool', desc: 'Keep STDIN open' },
  { long: 'tty', short: 't', kind: 'bool', desc: 'Allocate a pseudo-TTY' },
  { long: 'detach', short: 'd', kind: 'bool', desc: 'Detach' },
  { long: 'name', kind: 'string', desc: 'Name' },
  { long: 'last', short: 'n', kind: 'int', def: -1, desc: 'Show n last' },
]

describe('parseFlags', () => {
  const cases: Array<[string, string[], boolean, Record<string, unknown>, string[]]> = [
    ['repeated -e', ['-e', 'A=1', '-e', 'B=2', 'img'], false, { env: ['A=1', 'B=2'] }, ['img']],
    ['--env=', ['--env=A=1', 'img'], false, { env: ['A=1'] }, ['img']],
    ['-eVALUE', ['-eA=1', 'img'], false, { env: ['A=1'] }, ['img']],
    ['-e=VALUE', ['-e=A=1', 'img'], false, { env: ['A=1'] }, ['img']],
    ['combined -it', ['-it', 'img', 'sh'], false, { interactive: true, tty: true }, ['img', 'sh']],
    [
      'combined -itd',
      ['-itd', 'img'],
      false,
      { interactive: true, tty: true, detach: true },
      ['img'],
    ],
    ['stops at image', ['img', '-e', 'X'], false, { env: [] }, ['img', '-e', 'X']],
    ['interspersed', ['a', '-n', '3', 'b'], true, { last: 3 }, ['a', 'b']],
    ['terminator', ['--', '-e', 'x'], true, { env: [] }, ['-e', 'x']],
    ['bool value', ['--tty=false', 'img'], false, { tty: false }, ['img']],
    ['default int', [], true, { last: -1 }, []],
    ['dash is positional', ['-'], true, {}, ['-']],
  ]
  for (const [name, argv, inter, want, args] of cases) {
    test(name, () => {
      const r = parseFlags(defs, argv, inter)
      for (const [k, v] of Object.entries(want)) assert.deepEqual(r.values[k], v)
      assert.deepEqual(r.args, args)
    })
  }
  const errors: Array<[string[], string]> = [
    [['--x'], 'unknown flag: --x'],
    [['-z'], "unknown shorthand flag: 'z' in -z"],
    [['-iz'], "unknown shorthand flag: 'z' in -iz"],
    [['--name'], 'flag needs an argument: --name'],
    [['-e'], "flag needs an argument: 'e' in -e"],
    [
      ['-n', 'x'],
      'invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid syntax',
    ],
    [
      ['--tty=maybe'],
      'invalid argument "maybe" for "-t, --tty" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
    ],
  ]
  for (const [argv, msg] of errors) {
    test(`error ${argv.join(' ')}`, () => {
      assert.throws(
        () => parseFlags(defs, argv),
        (e: unknown) => e instanceof FlagError && e.message === msg,
      )
    })
  }
  test('help flags', () => {
    assert.equal(parseFlags(defs, ['--help']).help, true)
    assert.equal(parseFlags(defs, ['-h']).help, true)
  })
})

test('flagUsages wraps like pflag', () => {
  const u = flagUsages(
    [
      {
        long: 'all',
        short: 'a',
        kind: 'bool',
        desc: 'Show all images (default hides intermediate images)',
      },
      {
        long: 'format',
        kind: 'string',
        desc: "Format output using a custom template:\n'table':            Print output in table format with column headers (default)",
      },
      {
        long: 'last',
        short: 'n',
        kind: 'int',
        def: -1,
        desc: 'Show n last created containers (includes all states)',
      },
    ],
    79,
  )
  assert.equal(
    u,
    '  -a, --all             Show all images (default hides intermediate images)\n' +
      '      --format string   Format output using a custom template:\n' +
      "                        'table':            Print output in table format\n" +
      '                        with column headers (default)\n' +
      '  -n, --last int        Show n last created containers (includes all\n' +
      '                        states) (default -1)\n',
  )
})
