import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { applyConfigFile, ConfigError, parseArgs, type ParseResult } from './config.ts'

const defaults = {
  socketPath: '/run/berth/berth.sock',
  dataRoot: '/var/lib/berth',
  logLevel: 'info',
  insecureRegistries: [],
  configFile: '/etc/berth/daemon.json',
}

/** The parse result without the set of flags given, which the tables do not spell out. */
function parsed(argv: string[]): unknown {
  const r = parseArgs(argv)
  if (r.action !== 'run') return r
  return { action: r.action, config: r.config }
}

const ok: [string[], unknown][] = [
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
  [
    ['--keep-removed', '24h'],
    { action: 'run', config: { ...defaults, keepRemovedMs: 86_400_000 } as never },
  ],
  [
    ['--keep-removed=1h30m'],
    { action: 'run', config: { ...defaults, keepRemovedMs: 5_400_000 } as never },
  ],
  [['--keep-removed', '0'], { action: 'run', config: { ...defaults, keepRemovedMs: 0 } as never }],
  [['--gpus-from-env'], { action: 'run', config: { ...defaults, gpusFromEnv: true } as never }],
  [
    ['--gpus-from-env=false'],
    { action: 'run', config: { ...defaults, gpusFromEnv: false } as never },
  ],
  [
    ['--cdi-spec-dir', '/a', '--cdi-spec-dir=/b'],
    { action: 'run', config: { ...defaults, cdiSpecDirs: ['/a', '/b'] } as never },
  ],
  [
    ['--insecure-registry', 'reg.lan:5000', '--insecure-registry=10.0.0.0/8'],
    {
      action: 'run',
      config: { ...defaults, insecureRegistries: ['reg.lan:5000', '10.0.0.0/8'] } as never,
    },
  ],
  [['--config-file', '/x.json'], { action: 'run', config: { ...defaults, configFile: '/x.json' } }],
  [
    ['--max-concurrent-downloads', '6', '--max-concurrent-uploads=2', '--registry-certs', '/c'],
    {
      action: 'run',
      config: {
        ...defaults,
        maxConcurrentDownloads: 6,
        maxConcurrentUploads: 2,
        registryCertsDir: '/c',
      } as never,
    },
  ],
  [['--version'], { action: 'version' }],
  [['--help'], { action: 'help' }],
  [['-h'], { action: 'help' }],
]
for (const [argv, want] of ok) {
  test(`parses ${argv.join(' ') || '(nothing)'}`, () => assert.deepEqual(parsed(argv), want))
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
  [
    ['--keep-removed', '1 day'],
    'invalid argument "1 day" for "--keep-removed" flag: time: unknown unit " day" in duration "1 day"',
  ],
  [['--keep-removed', '-1h'], '--keep-removed must not be negative: -1h'],
  [['extra'], '"berthd" accepts no arguments, got "extra"'],
  [['--cdi-spec-dir', 'cdi'], '--cdi-spec-dir must be an absolute path: cdi'],
  [['--cdi-spec-dir'], 'flag needs an argument: --cdi-spec-dir'],
  [
    ['--gpus-from-env=yes'],
    'invalid argument "yes" for "--gpus-from-env" flag: strconv.ParseBool: parsing "yes": invalid syntax',
  ],
  [['--insecure-registry', 'ftp://x'], "insecure registry ftp://x should not contain '://'"],
  [['--max-concurrent-downloads', '0'], 'invalid max concurrent downloads: 0'],
  [['--max-concurrent-uploads', 'x'], 'invalid argument "x" for max concurrent uploads'],
  [['--registry-certs', 'certs'], '--registry-certs must be an absolute path: certs'],
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

test('the configuration file: keep-removed and the other settings, as dockerd reads daemon.json', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berthd-cfg-'))
  try {
    const file = join(dir, 'daemon.json')
    const load = async (argv: string[], text?: string) => {
      if (text !== undefined) await writeFile(file, text)
      const r = parseArgs(['--config-file', file, ...argv])
      if (r.action !== 'run') throw new Error(r.action)
      return applyConfigFile(r.config, r.given)
    }
    const c = await load(
      [],
      '{"keep-removed": "24h", "log-level": "debug", "data-root": "/srv/b/"}',
    )
    assert.equal(c.keepRemovedMs, 86_400_000)
    assert.equal(c.logLevel, 'debug')
    assert.equal(c.dataRoot, '/srv/b')
    const refused = async (argv: string[], text: string, why: string) =>
      assert.rejects(load(argv, text), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.equal(err.message, `unable to configure the Docker daemon with file ${file}: ${why}`)
        return true
      })
    await refused(
      ['--keep-removed', '1h'],
      '{"keep-removed": "2h"}',
      'the following directives are specified both as a flag and in the configuration file: keep-removed: (from flag: 1h0m0s, from file: 2h)',
    )
    await refused(
      ['--keep-removed', '500ms'],
      '{"keep-removed": "90s"}',
      'the following directives are specified both as a flag and in the configuration file: keep-removed: (from flag: 500ms, from file: 90s)',
    )
    await refused(
      [],
      '{"keep-removed": "2h", "bridge": "none"}',
      "the following directives don't match any configuration option: bridge",
    )
    await refused(
      [],
      '{"keep-removed": "1 day"}',
      'invalid argument "1 day" for "--keep-removed" flag: time: unknown unit " day" in duration "1 day"',
    )
    await refused([], '{"keep-removed": 5}', 'keep-removed must be a string, got 5')
    // A file named on the command line must exist; the default one may be absent.
    await rm(file)
    await assert.rejects(load([]), ConfigError)
    const dflt = parseArgs(['--keep-removed', '1h'])
    if (dflt.action !== 'run') throw new Error(dflt.action)
    assert.equal(
      (await applyConfigFile({ ...dflt.config, configFile: file }, dflt.given)).keepRemovedMs,
      3_600_000,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

async function withFile(
  content: string | undefined,
  argv: string[],
  fn: (r: Promise<unknown>) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berthd-config-'))
  try {
    const file = join(dir, 'daemon.json')
    if (content !== undefined) await writeFile(file, content)
    const r = parseArgs(['--config-file', file, ...argv]) as Extract<ParseResult, { action: 'run' }>
    await fn(applyConfigFile(r.config, r.given))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

test('daemon.json: insecure-registries and the flags it shares with the command line', () =>
  withFile(
    JSON.stringify({
      'insecure-registries': ['reg.lan:5000'],
      'data-root': '/srv/x/',
      'log-level': 'warn',
    }),
    [],
    async (r) => {
      assert.deepEqual(await r, {
        ...defaults,
        configFile: ((await r) as { configFile: string }).configFile,
        insecureRegistries: ['reg.lan:5000'],
        dataRoot: '/srv/x',
        logLevel: 'warn',
      })
    },
  ))

test('daemon.json: the registry limits', () =>
  withFile(
    JSON.stringify({ 'max-concurrent-downloads': 8, 'max-concurrent-uploads': 1 }),
    [],
    async (r) => {
      const c = (await r) as { maxConcurrentDownloads: number; maxConcurrentUploads: number }
      assert.equal(c.maxConcurrentDownloads, 8)
      assert.equal(c.maxConcurrentUploads, 1)
    },
  ))

test('daemon.json: the GPU settings, as their flags give them', async () => {
  await withFile(
    JSON.stringify({ 'gpus-from-env': true, 'cdi-spec-dirs': ['/etc/cdi', '/srv/cdi'] }),
    [],
    async (r) => {
      const c = (await r) as { gpusFromEnv: boolean; cdiSpecDirs: string[] }
      assert.equal(c.gpusFromEnv, true)
      assert.deepEqual(c.cdiSpecDirs, ['/etc/cdi', '/srv/cdi'])
    },
  )
  await withFile(JSON.stringify({ 'gpus-from-env': 'yes' }), [], (r) =>
    assert.rejects(r, /gpus-from-env must be true or false, got "yes"$/),
  )
  await withFile(JSON.stringify({ 'cdi-spec-dirs': ['cdi'] }), [], (r) =>
    assert.rejects(r, /cdi-spec-dirs must be absolute paths: cdi$/),
  )
  await withFile(JSON.stringify({ 'cdi-spec-dirs': ['/b'] }), ['--cdi-spec-dir', '/a'], (r) =>
    assert.rejects(
      r,
      /specified both as a flag and in the configuration file: cdi-spec-dirs: \(from flag: \[\/a\], from file: \[\/b\]\)$/,
    ),
  )
})

test("daemon.json: a key given as a flag too is refused in dockerd's words", () =>
  withFile(JSON.stringify({ 'insecure-registries': ['b'] }), ['--insecure-registry', 'a'], (r) =>
    assert.rejects(
      r,
      /^Error: unable to configure the Docker daemon with file \S+: the following directives are specified both as a flag and in the configuration file: insecure-registries: \(from flag: \[a\], from file: \[b\]\)$/,
    ),
  ))

test('daemon.json: unknown keys, bad values and bad JSON are refused', async () => {
  await withFile(JSON.stringify({ 'live-restore': true }), [], (r) =>
    assert.rejects(
      r,
      /^Error: unable to configure the Docker daemon with file \S+: the following directives don't match any configuration option: live-restore$/,
    ),
  )
  await withFile(JSON.stringify({ 'insecure-registries': ['-bad'] }), [], (r) =>
    assert.rejects(r, { message: 'invalid index name (-bad). Cannot begin or end with a hyphen' }),
  )
  await withFile('{', [], (r) =>
    assert.rejects(
      r,
      (err: Error) =>
        err instanceof ConfigError &&
        err.message.startsWith('unable to configure the Docker daemon with file '),
    ),
  )
})

test('daemon.json: a missing default file is fine, a missing named one is not', async () => {
  const cfg = parseArgs([]) as Extract<ParseResult, { action: 'run' }>
  const missing = { ...cfg.config, configFile: '/nonexistent/berth/daemon.json' }
  assert.deepEqual(await applyConfigFile(missing, cfg.given), missing)
  await withFile(undefined, [], (r) => assert.rejects(r, /no such file or directory/))
})

test('registry mirrors and proxies: flags, daemon.json (Docker 23+ `proxies`), dockerd words', async () => {
  const flags = parseArgs([
    '--registry-mirror',
    'https://mirror.lan',
    '--registry-mirror=http://127.0.0.1:5000/',
    '--http-proxy',
    'http://p:3128',
    '--no-proxy',
    'lan',
  ]) as Extract<ParseResult, { action: 'run' }>
  assert.deepEqual(flags.config.registryMirrors, ['https://mirror.lan/', 'http://127.0.0.1:5000/'])
  assert.deepEqual(flags.config.proxies, { httpProxy: 'http://p:3128', noProxy: 'lan' })
  assert.throws(() => parseArgs(['--registry-mirror', 'ftp://m']), {
    message: 'invalid mirror: unsupported scheme "ftp" in "ftp://m"',
  })
  assert.throws(() => parseArgs(['--registry-mirror', 'https://m/path']), {
    message: 'invalid mirror: path, query, or fragment at end of the URI "https://m/path"',
  })
  await withFile(
    JSON.stringify({
      'registry-mirrors': ['https://mirror.lan'],
      proxies: { 'https-proxy': 'http://u:p@p:3128', 'no-proxy': '*.lan' },
    }),
    [],
    async (r) => {
      const c = (await r) as { registryMirrors: string[]; proxies: unknown }
      assert.deepEqual(c.registryMirrors, ['https://mirror.lan/'])
      assert.deepEqual(c.proxies, { httpsProxy: 'http://u:p@p:3128', noProxy: '*.lan' })
    },
  )
  await withFile(JSON.stringify({ proxies: { 'ftp-proxy': 'x' } }), [], (r) =>
    assert.rejects(r, /the following directives don't match any configuration option: ftp-proxy$/),
  )
  await withFile(
    JSON.stringify({ proxies: { 'http-proxy': 'http://b' } }),
    ['--http-proxy', 'http://a'],
    (r) =>
      assert.rejects(
        r,
        /specified both as a flag and in the configuration file: http-proxy: \(from flag: http:\/\/a, from file: http:\/\/b\)$/,
      ),
  )
})

test("the default bridge's IPv6: --ipv6, --fixed-cidr-v6 and their daemon.json keys", async () => {
  const r = parseArgs(['--ipv6', '--fixed-cidr-v6', 'fd00:DEAD::5/64'])
  assert.equal(r.action, 'run')
  const c = (r as Extract<ParseResult, { action: 'run' }>).config
  assert.equal(c.ipv6, true)
  // The subnet as Docker prints it: host bits cleared, lower case.
  assert.equal(c.fixedCidrV6, 'fd00:dead::/64')
  assert.throws(() => parseArgs(['--fixed-cidr-v6', '10.0.0.0/8']), /invalid fixed-cidr-v6/)
  await withFile(JSON.stringify({ ipv6: true, 'fixed-cidr-v6': 'fd00:1::/64' }), [], async (p) => {
    const f = (await p) as { ipv6: boolean; fixedCidrV6: string }
    assert.equal(f.ipv6, true)
    assert.equal(f.fixedCidrV6, 'fd00:1::/64')
  })
  await withFile(JSON.stringify({ ipv6: 'yes' }), [], (p) =>
    assert.rejects(p, /ipv6 must be true or false, got "yes"$/),
  )
  await withFile(JSON.stringify({ ipv6: true }), ['--ipv6'], (p) =>
    assert.rejects(p, /specified both as a flag and in the configuration file: ipv6/),
  )
})
