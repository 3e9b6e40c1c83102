import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ConfigError, parseArgs, type ParseResult } from './config.ts'

const defaults = {
  socketPath: '/run/berth/berth.sock',
  dataRoot: '/var/lib/berth',
  logLevel: 'info',
}

const ok: [string[], ParseResult][] = [
  [[], { action: 'run', config: { ...defaults } as never }],
  [
    ['--host', 'unix:///tmp/x.sock'],
    { action: 'run', config: { ...defaults, socketPath: '/tmp/x.sock' } as never },
  ],
  [
    ['-H', 'unix:///tmp/y.sock'],
    { action: 'run', config: { ...defaults, socketPath: '/tmp/y.sock' } as never },
  ],
  [
    ['--host=unix:///tmp/z.sock'],
    { action: 'run', config: { ...defaults, socketPath: '/tmp/z.sock' } as never },
  ],
  [
    ['--data-root', '/srv/b/', '--log-level=debug'],
    {
      action: 'run',
      config: { ...defaults, dataRoot: '/srv/b', logLevel: 'debug' } as never,
    },
  ],
  [['--group', 'docker'], { action: 'run', config: { ...defaults, group: 'docker' } as never }],
  [['--gpus-from-env'], { action: 'run', config: { ...defaults, gpusFromEnv: true } as never }],
  [
    ['--gpus-from-env=false'],
    { action: 'run', config: { ...defaults, gpusFromEnv: false } as never },
  ],
  [
    ['--cdi-spec-dir', '/a', '--cdi-spec-dir=/b'],
    { action: 'run', config: { ...defaults, cdiSpecDirs: ['/a', '/b'] } as never },
  ],
  [['--version'], { action: 'version' }],
  [['--help'], { action: 'help' }],
  [['-h'], { action: 'help' }],
]
for (const [argv, want] of ok) {
  test(`parses ${argv.join(' ') || '(nothing)'}`, () => assert.deepEqual(parseArgs(argv), want))
}

const bad: [string[], string][] = [
  [['--x'], 'unknown flag: --x'],
  [['-x'], "unknown shorthand flag: 'x' in -x"],
  [['--data-root'], 'flag needs an argument: --data-root'],
  [['--log-level', 'loud'], 'unable to parse logging level: loud'],
  [
    ['--host', 'tcp://0.0.0.0:2375'],
    'invalid host: tcp://0.0.0.0:2375: berthd listens only on unix:// sockets',
  ],
  [['--data-root', 'rel'], '--data-root must be an absolute path: rel'],
  [['extra'], '"berthd" accepts no arguments, got "extra"'],
  [['--cdi-spec-dir', 'cdi'], '--cdi-spec-dir must be an absolute path: cdi'],
  [['--cdi-spec-dir'], 'flag needs an argument: --cdi-spec-dir'],
  [
    ['--gpus-from-env=yes'],
    'invalid argument "yes" for "--gpus-from-env" flag: strconv.ParseBool: parsing "yes": invalid syntax',
  ],
]
for (const [argv, message] of bad) {
  test(`refuses ${argv.join(' ')}`, () =>
    assert.throws(
      () => parseArgs(argv),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.equal(err.message, message)
        return true
      },
    ))
}
