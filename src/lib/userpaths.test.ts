import { test } from 'node:test'
import assert from 'node:assert/strict'
import { berthPaths, servedUid, ROOTLESS_UID_ENV } from './userpaths.ts'

test('root keeps /run/berth and /var/lib/berth whatever the environment says', () => {
  const p = berthPaths(0, { XDG_RUNTIME_DIR: '/run/user/0', HOME: '/root' })
  assert.deepEqual(p, {
    rootless: false,
    socket: '/run/berth/berth.sock',
    dataRoot: '/var/lib/berth',
    execRoot: '/run/berth',
    configFile: '/etc/berth/daemon.json',
  })
})

test('an ordinary user gets XDG paths of their own', () => {
  const table: [
    Parameters<typeof berthPaths>[1],
    string | undefined,
    Partial<ReturnType<typeof berthPaths>>,
  ][] = [
    [
      { XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/ann' },
      undefined,
      {
        socket: '/run/user/1000/berth/berth.sock',
        dataRoot: '/home/ann/.local/share/berth',
        execRoot: '/run/user/1000/berth',
        configFile: '/home/ann/.config/berth/daemon.json',
      },
    ],
    [
      { XDG_RUNTIME_DIR: '/run/user/1000/', XDG_DATA_HOME: '/data/ann', XDG_CONFIG_HOME: '/cfg' },
      '/home/ann',
      { dataRoot: '/data/ann/berth', configFile: '/cfg/berth/daemon.json' },
    ],
    // relative XDG values do not count (the XDG specification says so)
    [
      { XDG_RUNTIME_DIR: 'run', XDG_DATA_HOME: 'data', HOME: '/home/ann' },
      undefined,
      {
        socket: '/tmp/berth-1000/berth.sock',
        dataRoot: '/home/ann/.local/share/berth',
        privateTmp: '/tmp/berth-1000',
      },
    ],
    // HOME unset: the passwd entry's home
    [{}, '/home/bob', { dataRoot: '/home/bob/.local/share/berth', execRoot: '/tmp/berth-1000' }],
  ]
  for (const [env, home, want] of table) {
    const p = berthPaths(1000, env, home)
    assert.equal(p.rootless, true)
    for (const [k, v] of Object.entries(want))
      assert.equal(p[k as keyof typeof p], v, `${k} for ${JSON.stringify(env)}`)
  }
})

test('only berthd re-run as root of its own user namespace serves the user who started it', () => {
  const env = { [ROOTLESS_UID_ENV]: '1000' }
  assert.equal(servedUid(0, env, true), 1000)
  assert.equal(servedUid(0, env, false), 0, 'real root ignores the variable')
  assert.equal(servedUid(1000, {}, false), 1000)
  assert.equal(servedUid(0, { [ROOTLESS_UID_ENV]: '0' }, true), 0)
})
