// The host facts, checked against coreutils' own reading of the same filesystems.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { backingFilesystem, cgroupVersion, HostSystem } from './host.ts'

/** `stat -f -c %T`: the filesystem type name as coreutils prints it. */
function statType(path: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).trim()
}

const DOCKER_NAMES: Record<string, string> = {
  'ext2/ext3': 'extfs',
  tmpfs: 'tmpfs',
  xfs: 'xfs',
  btrfs: 'btrfs',
  overlayfs: 'overlayfs',
  zfs: 'zfs',
}

test('cgroupVersion says 2 only on a unified host', async () => {
  const want = statType('/sys/fs/cgroup') === 'cgroup2fs' ? '2' : '1'
  assert.equal(await cgroupVersion(), want)
  // A cgroup2 mount seen as the root (the unified hierarchy on a hybrid host, when present).
  for (const p of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    let type: string
    try {
      type = statType(p)
    } catch {
      continue
    }
    assert.equal(await cgroupVersion(p), type === 'cgroup2fs' ? '2' : '1', p)
  }
})

test('backingFilesystem names the filesystem as overlay2 reports it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sys-'))
  try {
    for (const p of [dir, '/dev/shm', '/proc']) {
      const coreutils = statType(p)
      const want = DOCKER_NAMES[coreutils] ?? '<unknown>'
      assert.equal(await backingFilesystem(p), want, `${p} (${coreutils})`)
    }
  } finally {
    await rm(dir, { recursive: true })
  }
})

test("HostSystem reports the host facts, the drivers it was wired with, and the network manager's", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-sys-'))
  try {
    const sys = new HostSystem({
      layerDir: dir,
      plugins: { volume: ['local'], log: ['json-file'] },
      networks: { drivers: () => ['host', 'null', 'bridge'] },
    })
    const info = await sys.info()
    assert.equal(info.cgroupVersion, await cgroupVersion())
    assert.deepEqual(info.driverStatus[0], ['Backing Filesystem', await backingFilesystem(dir)])
    assert.deepEqual(info.plugins.network, ['host', 'null', 'bridge'])
  } finally {
    await rm(dir, { recursive: true })
  }
})
