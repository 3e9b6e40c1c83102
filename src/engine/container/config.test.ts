import { test } from 'node:test'
import assert from 'node:assert/strict'
import { containerEnv, entrypointAndArgs, mergeImageConfig } from './service.ts'
import { validateName } from './names.ts'

test('the image config fills what the user left out, as Docker merges it', () => {
  const cases = [
    {
      user: { Image: 'x' },
      img: { Cmd: ['sh'], Env: ['PATH=/bin', 'A=1'], WorkingDir: '/w', User: 'nobody' },
      want: {
        Cmd: ['sh'],
        Entrypoint: null,
        Env: ['PATH=/bin', 'A=1'],
        WorkingDir: '/w',
        User: 'nobody',
      },
    },
    {
      user: { Image: 'x', Cmd: ['echo', 'hi'], Env: ['A=2'] },
      img: { Cmd: ['sh'], Entrypoint: ['/init'], Env: ['A=1', 'B=1'] },
      want: { Cmd: ['echo', 'hi'], Entrypoint: ['/init'], Env: ['B=1', 'A=2'] },
    },
    {
      // a user entrypoint drops the image's Cmd
      user: { Image: 'x', Entrypoint: ['ls'] },
      img: { Cmd: ['sh'], Entrypoint: ['/init'] },
      want: { Entrypoint: ['ls'], Cmd: undefined },
    },
    {
      // --entrypoint "" resets the image's entrypoint and keeps the user's Cmd
      user: { Image: 'x', Entrypoint: [''], Cmd: ['id'] },
      img: { Entrypoint: ['/init'] },
      want: { Entrypoint: [''], Cmd: ['id'] },
    },
  ]
  for (const { user, img, want } of cases) {
    const got = mergeImageConfig(user, img)
    for (const [k, v] of Object.entries(want)) {
      assert.deepEqual(got[k as keyof typeof got], v, `${JSON.stringify(user)} ${k}`)
    }
  }
})

test('entrypoint and cmd become the process path and arguments', () => {
  assert.deepEqual(entrypointAndArgs({ Image: 'x', Entrypoint: ['/init', '-v'], Cmd: ['a'] }), {
    path: '/init',
    args: ['-v', 'a'],
  })
  assert.deepEqual(entrypointAndArgs({ Image: 'x', Entrypoint: [''], Cmd: ['id', '-u'] }), {
    path: 'id',
    args: ['-u'],
  })
  assert.throws(() => entrypointAndArgs({ Image: 'x' }), /No command specified/)
})

test('the container environment has Docker defaults that the container can override', () => {
  assert.deepEqual(containerEnv({ Image: 'x', Tty: true, Env: ['A=1'] }, 'h1'), [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'HOSTNAME=h1',
    'TERM=xterm',
    'A=1',
  ])
  assert.deepEqual(containerEnv({ Image: 'x', Env: ['PATH=/x'] }, 'h'), ['PATH=/x', 'HOSTNAME=h'])
})

test('container names follow Docker grammar', () => {
  assert.equal(validateName('/web.1'), 'web.1')
  assert.equal(validateName('a_b-c'), 'a_b-c')
  for (const bad of ['a', '-x', 'a b', 'x/y', '']) {
    assert.throws(() => validateName(bad), /Invalid container name/)
  }
})
