import assert from 'node:assert/strict'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { tempDir } from './testutil.ts'
import { resolveUser } from './user.ts'
import { resolveInRoot } from '../fsroot.ts'

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh

# not a comment in passwd, but no user matches it
`
const GROUP = `# comment
root:x:0:
daemon:x:1:
users:x:100:alice
alice:x:1000:
wheel:x:10:root,alice
docker:x:999:alice,bob
`

describe('resolveUser', () => {
  let dir: string
  let remove: () => Promise<void>
  let root: string
  before(async () => {
    ;({ dir, remove } = await tempDir('berth-user-'))
    root = join(dir, 'rootfs')
    await mkdir(join(root, 'etc'), { recursive: true })
    await writeFile(join(root, 'etc', 'passwd'), PASSWD)
    await writeFile(join(root, 'etc', 'group'), GROUP)
  })
  after(() => remove())

  const cases: [
    string | undefined,
    { uid: number; gid: number; additionalGids: number[]; home: string },
  ][] = [
    [undefined, { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' }],
    ['', { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' }],
    ['root', { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' }],
    ['alice', { uid: 1000, gid: 1000, additionalGids: [1000, 100, 10, 999], home: '/home/alice' }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [1000, 100, 10, 999], home: '/home/alice' }],
    ['bob', { uid: 1001, gid: 100, additionalGids: [100, 999], home: '/home/bob' }],
    ['alice:users', { uid: 1000, gid: 100, additionalGids: [100], home: '/home/alice' }],
    ['alice:999', { uid: 1000, gid: 999, additionalGids: [999], home: '/home/alice' }],
    ['1000:1000', { uid: 1000, gid: 1000, additionalGids: [1000], home: '/home/alice' }],
    ['1001:wheel', { uid: 1001, gid: 10, additionalGids: [10], home: '/home/bob' }],
    ['4242', { uid: 4242, gid: 0, additionalGids: [0], home: '/' }],
    ['4242:4343', { uid: 4242, gid: 4343, additionalGids: [4343], home: '/' }],
  ]
  for (const [spec, want] of cases) {
    test(`${JSON.stringify(spec)}`, async () => {
      assert.deepEqual(await resolveUser(root, spec), want)
    })
  }

  const errors: [string, string][] = [
    ['nobody', 'unable to find user nobody: no matching entries in passwd file'],
    ['alice:nogroup', 'unable to find group nogroup: no matching entries in group file'],
    ['-1', 'uids and gids must be in range 0-2147483647'],
    ['2147483648', 'uids and gids must be in range 0-2147483647'],
    ['1:-5', 'uids and gids must be in range 0-2147483647'],
  ]
  for (const [spec, message] of errors) {
    test(`${spec} fails`, async () => {
      await assert.rejects(resolveUser(root, spec), (err: unknown) => {
        assert.ok(err instanceof InvalidArgument)
        assert.equal(err.message, message)
        return true
      })
    })
  }

  test('no passwd or group file: numeric ids work, names do not', async () => {
    const empty = join(dir, 'empty')
    await mkdir(empty)
    assert.deepEqual(await resolveUser(empty, ''), {
      uid: 0,
      gid: 0,
      additionalGids: [0],
      home: '/',
    })
    assert.deepEqual(await resolveUser(empty, '5:6'), {
      uid: 5,
      gid: 6,
      additionalGids: [6],
      home: '/',
    })
    await assert.rejects(
      resolveUser(empty, 'alice'),
      /unable to find user alice: no matching entries in passwd file/,
    )
  })

  test('an absolute symlink resolves inside the root filesystem, never the host', async () => {
    const evil = join(dir, 'evil')
    await mkdir(join(evil, 'etc'), { recursive: true })
    await mkdir(join(evil, 'real'), { recursive: true })
    // On the host /etc/passwd names root; inside, the link's target holds only "mallory".
    await writeFile(join(evil, 'real', 'passwd'), 'mallory:x:7:8::/m:/bin/sh\n')
    await symlink('/real/passwd', join(evil, 'etc', 'passwd'))
    await symlink('../../../../../../real/group', join(evil, 'etc', 'group'))
    assert.deepEqual(await resolveUser(evil, 'mallory'), {
      uid: 7,
      gid: 8,
      additionalGids: [8],
      home: '/m',
    })
    await assert.rejects(resolveUser(evil, 'root'), /unable to find user root/)
    assert.equal(await resolveInRoot(evil, '/etc/group'), join(evil, 'real', 'group'))
    assert.equal(await resolveInRoot(evil, '/etc/passwd'), join(evil, 'real', 'passwd'))
  })
})
