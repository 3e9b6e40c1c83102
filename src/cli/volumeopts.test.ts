import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseFlags } from './flags.ts'
import { parseMountFlag, parseVolumeOpts, volumeFlags, volumeSpecSource } from './volumeopts.ts'

test('-v: binds, anonymous volumes, relative host paths made absolute as the docker CLI does', () => {
  const f = parseFlags(
    volumeFlags,
    [
      '-v',
      '/h:/c:ro',
      '-v',
      '/ctr',
      '-v',
      'name:/n',
      '-v',
      './rel:/r',
      '--volumes-from',
      'c1:ro',
      'img',
    ],
    false,
  )
  const v = parseVolumeOpts(f)
  assert.deepEqual(v.binds, ['/h:/c:ro', 'name:/n', `${process.cwd()}/rel:/r`])
  assert.deepEqual(v.volumes, { '/ctr': {} })
  assert.deepEqual(v.volumesFrom, ['c1:ro'])
  assert.deepEqual(v.mounts, [])
  // Not made absolute: the daemon refuses it as a volume name, in Docker's words.
  assert.deepEqual(parseVolumeOpts(parseFlags(volumeFlags, ['-v', 'rel/dir:/x'], false)).binds, [
    'rel/dir:/x',
  ])
})

test('volume spec errors', () => {
  assert.throws(() => volumeSpecSource(''), { message: 'invalid empty volume spec' })
  assert.throws(() => volumeSpecSource('/x::/y'), {
    message: 'invalid spec: /x::/y: empty section between colons',
  })
  assert.throws(() => volumeSpecSource('/a:/b:ro:x'), {
    message: 'invalid spec: /a:/b:ro:x: too many colons',
  })
  assert.equal(volumeSpecSource('/ctr'), '')
  assert.equal(volumeSpecSource('vv:/ctr:ro'), 'vv')
})

test('--mount: the API mount the docker CLI sends', () => {
  assert.deepEqual(parseMountFlag('type=bind,src=/x,dst=/m,readonly,bind-propagation=rslave'), {
    Type: 'bind',
    Source: '/x',
    Target: '/m',
    ReadOnly: true,
    BindOptions: { Propagation: 'rslave' },
  })
  assert.deepEqual(
    parseMountFlag(
      'type=volume,src=v3,dst=/n,volume-nocopy,volume-label=k=v,volume-driver=local,volume-opt=a=b',
    ),
    {
      Type: 'volume',
      Source: 'v3',
      Target: '/n',
      VolumeOptions: {
        NoCopy: true,
        Labels: { k: 'v' },
        DriverConfig: { Name: 'local', Options: { a: 'b' } },
      },
    },
  )
  assert.deepEqual(parseMountFlag('type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770'), {
    Type: 'tmpfs',
    Target: '/t',
    TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1770 },
  })
  assert.deepEqual(parseMountFlag('dst=/anon'), { Type: 'volume', Target: '/anon' })
  assert.throws(() => parseMountFlag('type=bind,src=/x,dst=/m,volume-nocopy'), {
    message: `invalid argument "type=bind,src=/x,dst=/m,volume-nocopy" for "--mount" flag: cannot mix 'volume-*' options with mount type 'bind'`,
  })
  assert.throws(() => parseMountFlag('type=bind,bogus=1'), /unknown option 'bogus' in 'bogus=1'/)
  assert.throws(
    () => parseMountFlag('type=bind,dst'),
    /invalid field 'dst' must be a key=value pair/,
  )
  assert.throws(() => parseMountFlag('readonly=maybe,dst=/x'), /invalid boolean value \("maybe"\)/)
  assert.deepEqual(parseMountFlag('type=tmpfs,dst=/t,tmpfs-size=64m').TmpfsOptions, {
    SizeBytes: 64 * 1024 * 1024,
  })
})
