// The rootless cgroup decision on fake cgroup trees (temporary directories with the cgroup
// files and their owners), and the set-up's writes on such a tree.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, chown, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { cgroupDelegation, cgroupLayout, ownCgroup, placeContainers } from './cgroups.ts'
import { limitsRefusal, neededControllers } from './types.ts'

const me = process.getuid?.() ?? 0
const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** A fake cgroup2 tree: `own` with its controllers, owned by `owner`. */
async function tree(own: string, controllers: string, owner = me): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-cg-'))
  dirs.push(root)
  const dir = join(root, own)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'cgroup.controllers'), `${controllers}\n`)
  await writeFile(join(dir, 'cgroup.subtree_control'), '')
  await writeFile(join(dir, 'cgroup.procs'), '41\n42\n')
  if (owner !== me) {
    for (const f of ['', 'cgroup.procs', 'cgroup.subtree_control'])
      await chown(join(dir, f), owner, owner)
  }
  return root
}

const SCOPE = '/user.slice/user-1000.slice/user@1000.service/app.slice/berth.scope'
const proc = (path: string) => `1:name=systemd:/x\n0::${path}\n`

describe('cgroupDelegation', () => {
  test('the 0:: line is the cgroup2 path', () => {
    assert.equal(ownCgroup(proc(SCOPE)), SCOPE)
    assert.equal(ownCgroup('4:memory:/a\n'), undefined)
  })

  test('pure v2, the user owns its cgroup with every controller: all limits, set up there', async () => {
    const root = await tree(SCOPE, 'cpuset cpu io memory hugetlb pids rdma misc')
    const d = await cgroupDelegation({ kind: 'unified', root }, proc(SCOPE), me)
    assert.deepEqual(d, { controllers: ['cpu', 'cpuset', 'memory', 'pids'], base: SCOPE })
  })

  test('a restarted berthd in the leaf an earlier one made uses the cgroup above it', async () => {
    const root = await tree(SCOPE, 'memory pids')
    const d = await cgroupDelegation({ kind: 'unified', root }, proc(`${SCOPE}/berthd`), me)
    assert.equal(d.base, SCOPE)
  })

  test('only some controllers delegated: those, and why the others are not', async () => {
    const root = await tree(SCOPE, 'memory pids')
    const d = await cgroupDelegation({ kind: 'unified', root }, proc(SCOPE), me)
    assert.deepEqual(d.controllers, ['memory', 'pids'])
    assert.equal(d.base, SCOPE)
    assert.equal(
      limitsRefusal(
        { cpu: { quota: 1, period: 2 }, memory: { limit: 5 } },
        { controllers: d.controllers, reason: d.reason ?? '' },
      ),
      `resource limits are not available: the cpu controller is not delegated to berthd without root: berthd's cgroup ${SCOPE} offers memory, pids (cgroup.controllers; its parent enables them in cgroup.subtree_control)`,
    )
    assert.equal(
      limitsRefusal(
        { memory: { limit: 5 }, pids: { limit: 3 } },
        { controllers: d.controllers, reason: d.reason ?? '' },
      ),
      undefined,
    )
  })

  test('a cgroup owned by someone else (a login session scope) is not delegated', async () => {
    const session = '/user.slice/user-1000.slice/session-3.scope'
    const root = await tree(session, 'cpu memory pids', me + 4242)
    const d = await cgroupDelegation({ kind: 'unified', root }, proc(session), me)
    assert.deepEqual(d.controllers, [])
    assert.equal(d.base, undefined)
    assert.match(
      d.reason ?? '',
      new RegExp(
        `^berthd's cgroup ${session} is not delegated to the user \\(the directory belongs to uid ${me + 4242}\\); .*systemd-run --user --scope -p Delegate=yes`,
      ),
    )
  })

  test('a read-only subtree_control is not delegated either', async () => {
    const root = await tree(SCOPE, 'memory')
    await chmod(join(root, SCOPE, 'cgroup.subtree_control'), 0o444)
    const d = await cgroupDelegation({ kind: 'unified', root }, proc(SCOPE), me)
    assert.match(d.reason ?? '', /cgroup.subtree_control is not writable by its owner/)
  })

  test('hybrid hosts: the unified hierarchy named with what it has, nothing delegated', async () => {
    const root = await tree('/', 'hugetlb')
    const d = await cgroupDelegation({ kind: 'hybrid', root }, proc('/'), me)
    assert.deepEqual(d.controllers, [])
    assert.equal(
      d.reason,
      `this host runs cgroups v1 beside v2 and the v1 controllers belong to root, so berthd running without root cannot limit memory, CPU or processes (the unified hierarchy at ${root} has only hugetlb)`,
    )
    const withMem = await tree('/', 'memory pids')
    const m = await cgroupDelegation({ kind: 'hybrid', root: withMem }, proc('/'), me)
    assert.match(
      m.reason ?? '',
      /runc applies limits through cgroup v2 only where \/sys\/fs\/cgroup itself is cgroup2; here the unified hierarchy at .* has memory, pids\)$/,
    )
    const v1 = await cgroupDelegation({ kind: 'v1' }, '', me)
    assert.match(v1.reason ?? '', /no cgroup v2 hierarchy/)
  })

  test('this host: cgroupLayout reads the real mounts', async () => {
    const l = await cgroupLayout()
    const fsAt = new Map<string, string>()
    for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
      const [pre, post] = line.split(' - ')
      if (pre && post) fsAt.set(pre.split(' ')[4] ?? '', post.split(' ')[0] ?? '')
    }
    const expected =
      fsAt.get('/sys/fs/cgroup') === 'cgroup2'
        ? 'unified'
        : fsAt.get('/sys/fs/cgroup/unified') === 'cgroup2'
          ? 'hybrid'
          : 'v1'
    assert.equal(l.kind, expected)
  })
})

test('neededControllers maps each resource to its controller', () => {
  assert.deepEqual(neededControllers(undefined), [])
  assert.deepEqual(neededControllers({ memory: {} }), [])
  assert.deepEqual(
    neededControllers({ memory: { swap: -1 }, cpu: { shares: 2, cpus: '0' }, pids: { limit: 1 } }),
    ['cpu', 'cpuset', 'memory', 'pids'],
  )
  assert.equal(limitsRefusal({ memory: { limit: 1 } }, undefined), undefined)
})

test('placeContainers: berthd to a leaf, controllers enabled, containers under a sibling', async () => {
  const root = await tree(SCOPE, 'memory pids')
  const parent = await placeContainers(root, SCOPE, ['memory', 'pids'])
  assert.equal(parent, `${SCOPE}/containers`)
  const dir = join(root, SCOPE)
  assert.equal(
    await readFile(join(dir, 'berthd', 'cgroup.procs'), 'utf8'),
    '42',
    'the last pid written',
  )
  assert.equal(await readFile(join(dir, 'cgroup.subtree_control'), 'utf8'), '+memory +pids')
  assert.equal(
    await readFile(join(dir, 'containers', 'cgroup.subtree_control'), 'utf8'),
    '+memory +pids',
  )
})

// The set-up's process moves on a real cgroup2 hierarchy (this host's: the unified one beside v1,
// or /sys/fs/cgroup itself), in a throwaway cgroup with a sleep in it. No controller is enabled:
// the host's root cgroup hands none down here, and its settings are left as they are.
test('placeContainers on a real cgroup2 tree moves every process to the leaf', async (t) => {
  const layout = await cgroupLayout()
  if (layout.kind === 'v1' || me !== 0) {
    t.skip('needs root and a cgroup2 hierarchy')
    return
  }
  const base = `/berth-cgtest-${process.pid}`
  const dir = join(layout.root, base)
  await mkdir(dir)
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' })
  try {
    await writeFile(join(dir, 'cgroup.procs'), String(sleeper.pid))
    assert.equal(await placeContainers(layout.root, base, []), `${base}/containers`)
    assert.equal(await readFile(join(dir, 'cgroup.procs'), 'utf8'), '')
    const cg = ownCgroup(await readFile(`/proc/${sleeper.pid}/cgroup`, 'utf8'))
    assert.equal(cg, `${base}/berthd`)
  } finally {
    sleeper.kill('SIGKILL')
    await once(sleeper, 'exit')
    // The kernel drops a dead process from cgroup.procs before rmdir may go on.
    await rmdir(join(dir, 'containers')).catch(() => {})
    await rmdir(join(dir, 'berthd'))
    await rmdir(dir)
  }
})
