// The guard over work left in containers (issue 17), with real containers against a real berthd:
// ps's UNSAVED column, rm's warning and question at a real terminal (tmux), the prunes' report,
// the trash (berthd --keep-removed, or the configuration file) with restore, purge and expiry,
// system df, the stock docker CLI seeing Docker's behaviour, and berthd killed inside a move to
// the trash or back.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { access, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  berth,
  berthBin,
  busyboxTar,
  docker,
  importBusybox,
  mountsUnder,
  startBerthd,
  startDockerd,
  type Berthd,
  type RunResult,
} from './harness.ts'
import { Term } from './term.ts'

let d: Berthd
let work: string
let faultFile: string

before(async () => {
  work = await mkdtemp('/tmp/bt-guard-')
  faultFile = join(work, 'fault')
  d = await startBerthd({
    args: ['--keep-removed', '1h'],
    env: { BERTH_FAULT_FILE: faultFile },
  })
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

function check(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`)
  return r.stdout
}

const b = async (args: string[], input?: string): Promise<string> =>
  check(await berth(args, { host: d, ...(input !== undefined ? { input } : {}) }), args.join(' '))
const dk = async (args: string[]): Promise<string> =>
  check(await docker(args, { host: d }), `docker ${args.join(' ')}`)

/** Waits until fn's answer passes, failing with the last answer (background work settles). */
async function until(what: string, fn: () => Promise<string>, ok: (s: string) => boolean) {
  const deadline = Date.now() + 15_000
  for (;;) {
    const s = await fn()
    if (ok(s)) return s
    if (Date.now() > deadline) assert.fail(`${what} never happened; last: ${s}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** NAME=UNSAVED for every container. */
async function unsavedColumn(): Promise<Map<string, string>> {
  const out = await b(['ps', '-a', '--format', '{{.Names}}={{.Unsaved}}'])
  return new Map(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=') as [string, string]),
  )
}

const trashNames = async (): Promise<string[]> =>
  (await b(['container', 'trash', 'ls', '--format', '{{.Name}}']))
    .trim()
    .split('\n')
    .filter(Boolean)

/** A stopped container that wrote 2 MB outside its volume and deleted a file of its image. */
async function dirty(name: string): Promise<string> {
  const id = await b([
    'run',
    '--name',
    name,
    '-v',
    `${name}-vol:/data`,
    'busybox',
    'sh',
    '-c',
    'mkdir -p /root/work && head -c 2000000 /dev/zero > /root/work/big && echo precious > /root/note && echo v > /data/v && rm /bin/vi',
  ])
  assert.equal(id, '')
  return (await dk(['inspect', '-f', '{{.Id}}', name])).trim()
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  )
}

describe('ps shows unsaved changes', () => {
  test('a column in the default table and {{.Unsaved}}; volumes and a commit do not count', async () => {
    await dirty('ps-dirty')
    await b([
      'run',
      '--name',
      'ps-clean',
      '-v',
      'ps-clean-vol:/data',
      'busybox',
      'sh',
      '-c',
      'echo v > /data/v',
    ])
    // Measured in the background once the process ended: ps never waits for it.
    const col = await until(
      'the measure of ps-dirty',
      async () => JSON.stringify([...(await unsavedColumn())]),
      (s) => s.includes('"ps-dirty","2MB"'),
    )
    assert.ok(col.includes('"ps-clean",""'), col)
    const table = await b(['ps', '-a'])
    const [head, ...rows] = table.split('\n')
    assert.match(head!, /STATUS +UNSAVED +PORTS +NAMES/)
    const row = rows.find((r) => r.endsWith('ps-dirty'))
    assert.match(row ?? '', /Exited \(0\) .* {2,}2MB {2,}.*ps-dirty$/)
    // The stock docker CLI sees docker's table.
    assert.doesNotMatch((await dk(['ps', '-a'])).split('\n')[0]!, /UNSAVED/)
    // A commit made after the last change holds it.
    await b(['commit', 'ps-dirty', 'ps-dirty-saved'])
    assert.equal((await unsavedColumn()).get('ps-dirty'), '')
  })
})

describe('rm', () => {
  test('not at a terminal: docker behaviour, no question', async () => {
    await dirty('rm-pipe')
    const r = await berth(['rm', 'rm-pipe'], { host: d, input: 'n\n' })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'rm-pipe\n')
    assert.equal(r.stderr, '')
    const gone = await docker(['inspect', 'rm-pipe'], { host: d })
    assert.equal(gone.code, 1)
    assert.match(gone.stderr, /No such object: rm-pipe/)
  })

  test('at a terminal: says what would be lost, how to keep it, and asks', async () => {
    await dirty('rm-tty')
    await dirty('rm-tty-force')
    const t = await Term.start(
      { BERTH_HOST: `unix://${d.socket}`, BERTH_CONFIG: join(work, 'berth'), HOME: work },
      `berth() { ${process.execPath} ${berthBin} "$@"; }`,
    )
    try {
      await t.line('berth rm rm-tty')
      const screen = await t.waitFor(/Remove container rm-tty and these changes\? \[y\/N\]/m)
      assert.match(screen, /Container rm-tty holds changes that are in no image or volume:/)
      assert.match(screen, /2MB in 2 files, 1 file deleted, last changed .* ago/)
      assert.match(screen, /2MB {2}\/root\/work\/big/)
      assert.match(screen, /berth commit rm-tty rm-tty-saved/)
      assert.match(screen, /berth cp rm-tty:\/root\/work\/big \.\/big/)
      assert.match(screen, /`berth container restore rm-tty` brings it back/)
      // The volume's file is not among what would be lost.
      assert.doesNotMatch(screen, /\/data/)
      await t.line('n')
      await t.waitFor(/^Kept rm-tty\.$/m)
      await t.line('echo "rm=$?"')
      await t.waitFor(/^rm=0$/m)
      assert.equal((await dk(['inspect', '-f', '{{.Name}}', 'rm-tty'])).trim(), '/rm-tty')

      await t.line('clear; berth rm rm-tty; echo "rm2=$?"')
      await t.waitFor(/Remove container rm-tty and these changes\? \[y\/N\]/m)
      await t.line('y')
      await t.waitFor(/^rm2=0$/m)
      assert.equal((await docker(['inspect', 'rm-tty'], { host: d })).code, 1)
      assert.ok((await trashNames()).includes('rm-tty'))

      // -f keeps docker's behaviour at a terminal too.
      await t.line('clear; berth rm -f rm-tty-force; echo "rm3=$?"')
      const s3 = await t.waitFor(/^rm3=0$/m)
      assert.doesNotMatch(s3, /\[y\/N\]/)
      assert.equal((await docker(['inspect', 'rm-tty-force'], { host: d })).code, 1)
    } finally {
      await t.stop()
    }
  })

  test('the prunes report unsaved changes before asking', async () => {
    await dirty('prune-dirty')
    const r = await berth(['container', 'prune'], { host: d, input: 'n\n' })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^WARNING! This will remove all stopped containers\.\n/)
    assert.match(
      r.stdout,
      /prune-dirty: 2MB in 2 files, 1 file deleted, last changed .* ago \(\/root\/work\/big/,
    )
    assert.match(r.stdout, /Are you sure you want to continue\? \[y\/N\] $/)
    const s = await berth(['system', 'prune'], { host: d, input: 'n\n' })
    assert.equal(s.code, 0, s.stderr)
    assert.match(s.stdout, /^WARNING! This will remove:\n {2}- all stopped containers\n/)
    assert.match(s.stdout, /prune-dirty: 2MB in 2 files/)
    // Nothing was removed.
    assert.equal((await dk(['inspect', '-f', '{{.State.Status}}', 'prune-dirty'])).trim(), 'exited')
  })
})

describe('the trash (berthd --keep-removed)', () => {
  test('a removed container is gone for every client, and comes back with its files', async () => {
    const id = await dirty('kept')
    await dk(['rm', 'kept'])
    assert.doesNotMatch(await dk(['ps', '-a', '--format', '{{.Names}}']), /^kept$/m)
    assert.equal((await docker(['inspect', 'kept'], { host: d })).code, 1)
    // Its name is free at once.
    await dk(['create', '--name', 'kept', 'busybox', 'true'])
    const ls = await b(['container', 'trash', 'ls'])
    assert.match(ls, /^CONTAINER ID +NAME +IMAGE +REMOVED +EXPIRES +SIZE +UNSAVED$/m)
    assert.match(
      ls,
      new RegExp(`^${id.slice(0, 12)} +kept +busybox .* in 59 minutes +2\\.0\\dMB +2MB$`, 'm'),
    )
    assert.ok(await exists(join(d.dataRoot, 'layers/rw', id)))
    // The name is taken now: it comes back under another, with a warning.
    const r = await berth(['container', 'restore', 'kept'], { host: d })
    assert.equal(r.code, 0, r.stderr)
    const name = r.stdout.trim()
    assert.notEqual(name, 'kept')
    assert.match(r.stderr, /WARNING: the name "kept" is taken by another container; restored as /)
    assert.equal(
      (await dk(['inspect', '-f', '{{.Id}} {{.State.Status}}', name])).trim(),
      `${id} exited`,
    )
    // Stopped, as it was.
    const ex = await docker(['exec', name, 'true'], { host: d })
    assert.notEqual(ex.code, 0)
    assert.match(ex.stderr, /is not running/)
    const tar = (await docker(['cp', `${name}:/root/note`, '-'], { host: d })).stdout
    assert.match(tar, /precious/)
    assert.ok(!(await trashNames()).includes('kept'))
    // And it starts.
    await dk(['start', name])
  })

  test('--rm containers are kept only when they hold changes', async () => {
    await b(['run', '--rm', '--name', 'rm-clean', 'busybox', 'true'])
    await b(['run', '--rm', '--name', 'rm-dirty', 'busybox', 'sh', '-c', 'echo x > /root/x'])
    await until(
      'rm-dirty kept',
      async () => (await trashNames()).join(','),
      (s) => s.includes('rm-dirty'),
    )
    assert.ok(!(await trashNames()).includes('rm-clean'))
  })

  test('system df shows the trash; docker system df works as docker', async () => {
    const df = await b(['system', 'df'])
    assert.match(df, /^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$/m)
    const n = (await trashNames()).length
    assert.match(df, new RegExp(`^Trash +${n} +0 +\\S+ +\\S+ \\(100%\\)$`, 'm'))
    const ddf = await dk(['system', 'df'])
    assert.match(ddf, /^Containers +\d+ +\d+ /m)
    assert.doesNotMatch(ddf, /Trash/)
    const v = await b(['system', 'df', '-v'])
    assert.match(v, /Trash \(removed containers/)
    assert.match(v, / rm-dirty /)
  })

  test('purge deletes the entries and their layers', async () => {
    const id = await dirty('purged')
    await dk(['rm', 'purged'])
    assert.ok((await trashNames()).includes('purged'))
    assert.equal(await b(['container', 'trash', 'purge', 'purged']), 'purged\n')
    assert.ok(!(await trashNames()).includes('purged'))
    assert.equal(await exists(join(d.dataRoot, 'layers/rw', id)), false)
    const all = await b(['container', 'trash', 'purge', '-f'])
    assert.match(all, /Total reclaimed space: /)
    assert.deepEqual(await trashNames(), [])
    const none = await berth(['container', 'restore', 'purged'], { host: d })
    assert.equal(none.code, 1)
    assert.match(none.stderr, /No such container in the trash: purged/)
  })
})

describe('the trash from the configuration file, and expiry', () => {
  test('keep-removed in the file; an entry goes when it expires', async () => {
    const cfg = join(work, 'daemon.json')
    await writeFile(cfg, JSON.stringify({ 'keep-removed': '3s' }))
    const d2 = await startBerthd({ args: ['--config-file', cfg] })
    try {
      await importBusybox(d2)
      const r = await berth(['run', '--name', 'short', 'busybox', 'sh', '-c', 'echo x > /x'], {
        host: d2,
      })
      assert.equal(r.code, 0, r.stderr)
      const id = (await docker(['inspect', '-f', '{{.Id}}', 'short'], { host: d2 })).stdout.trim()
      assert.equal((await docker(['rm', 'short'], { host: d2 })).code, 0)
      const names = async () =>
        (await berth(['container', 'trash', 'ls', '--format', '{{.Name}}'], { host: d2 })).stdout
      assert.equal(await names(), 'short\n')
      await until('the entry expired', names, (s) => s === '')
      assert.equal(await exists(join(d2.dataRoot, 'layers/rw', id)), false)
    } finally {
      await d2.stop()
    }
  })
})

describe('berthd killed inside a move to the trash or back leaves it in one place', () => {
  /** Arms `point`, runs the operation (whose client sees the daemon die), starts berthd again. */
  async function crashAt(point: string, op: () => Promise<unknown>): Promise<void> {
    await writeFile(faultFile, point)
    await op()
    await until(
      'the fault point',
      async () => String(await exists(faultFile)),
      (s) => s === 'false',
    )
    await d.restart()
  }

  /** Where the container is: in the store, in the trash, and that its layer is whole. */
  async function whereIs(name: string, id: string): Promise<'store' | 'trash'> {
    const listed = (await dk(['ps', '-a', '--no-trunc', '--format', '{{.ID}}'])).includes(id)
    const trashed = (await trashNames()).includes(name)
    assert.notEqual(listed, trashed, `${name}: listed ${listed}, in the trash ${trashed}`)
    assert.ok(await exists(join(d.dataRoot, 'layers/rw', id, 'upper/root/note')))
    const root = d.dataRoot
    const tmp = [
      ...(await readdir(join(root, 'containers'))),
      ...(await readdir(join(root, 'trash'))),
    ].filter((n) => n.startsWith('.tmp'))
    assert.deepEqual(tmp, [])
    assert.deepEqual(await mountsUnder(join(root, 'trash')), [])
    return listed ? 'store' : 'trash'
  }

  for (const [point, expected] of [
    ['trash.before-move', 'store'],
    ['trash.after-move', 'trash'],
  ] as const) {
    test(point, async () => {
      const name = `crash-${point.replace('.', '-')}`
      const id = await dirty(name)
      await crashAt(point, () => docker(['rm', name], { host: d }))
      assert.equal(await whereIs(name, id), expected)
      // Either way the user carries on: remove it again, or restore it.
      if (expected === 'store') await dk(['rm', name])
      await b(['container', 'restore', name])
      assert.equal(await whereIs(name, id), 'store')
      assert.match(
        (await docker(['cp', `${name}:/root/note`, '-'], { host: d })).stdout,
        /precious/,
      )
    })
  }

  for (const [point, expected] of [
    ['restore.before-move', 'trash'],
    ['restore.after-move', 'store'],
  ] as const) {
    test(point, async () => {
      const name = `crash-${point.replace('.', '-')}`
      const id = await dirty(name)
      await dk(['rm', name])
      await crashAt(point, () => berth(['container', 'restore', name], { host: d }))
      assert.equal(await whereIs(name, id), expected)
      if (expected === 'trash') await b(['container', 'restore', name])
      assert.equal(await whereIs(name, id), 'store')
      await dk(['start', name])
      // And it can go to the trash again.
      await dk(['rm', '-f', name])
      assert.equal(await whereIs(name, id), 'trash')
    })
  }
})

describe('berth against dockerd: docker behaviour', () => {
  test('ps, rm, system df and the trash commands', async () => {
    const dd = await startDockerd()
    try {
      const host = { socket: dd.socket }
      const run = async (args: string[], input?: string) =>
        berth(args, { host, ...(input !== undefined ? { input } : {}) })
      assert.equal((await docker(['import', await busyboxTar(), 'busybox'], { host })).code, 0)
      const c = await docker(['create', '--name', 'xx', 'busybox', 'true'], { host })
      assert.equal(c.code, 0, c.stderr)
      const ps = await run(['ps', '-a'])
      assert.equal(ps.code, 0, ps.stderr)
      assert.match(ps.stdout, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/m)
      const df = await run(['system', 'df'])
      assert.equal(df.code, 0, df.stderr)
      assert.doesNotMatch(df.stdout, /Trash/)
      const pr = await run(['container', 'prune'], 'n\n')
      assert.equal(
        pr.stdout,
        'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ',
      )
      const t = await run(['container', 'trash', 'ls'])
      assert.equal(t.code, 1)
      assert.match(t.stderr, /this daemon keeps no removed containers \(not berthd\)/)
      const r = await run(['rm', 'xx'])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, 'xx\n')
    } finally {
      await dd.stop()
    }
  })
})
