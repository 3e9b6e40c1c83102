import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgument } from '../errors.ts'
import { pastaArgs, pastaMappings } from './pasta.ts'

const ctr = (
  PortBindings: Record<string, { HostIp: string; HostPort: string }[] | null>,
  PublishAllPorts = false,
) => ({
  exposedPorts: {},
  hostConfig: { PortBindings, PublishAllPorts },
})

test('pasta forwards exactly the published ports, on the address asked for', () => {
  const table: [Parameters<typeof pastaMappings>[0], string[]][] = [
    [ctr({}), ['-t', 'none', '-u', 'none']],
    [ctr({ '80/tcp': [{ HostIp: '', HostPort: '8080' }] }), ['-t', '8080:80', '-u', 'none']],
    [
      ctr({
        '80/tcp': [
          { HostIp: '127.0.0.1', HostPort: '8080' },
          { HostIp: '0.0.0.0', HostPort: '8081' },
        ],
        '53/udp': [{ HostIp: '', HostPort: '5353' }],
      }),
      ['-t', '127.0.0.1/8080:80,8081:80', '-u', '5353:53'],
    ],
  ]
  for (const [c, ports] of table) {
    assert.deepEqual(pastaArgs('/ns', '/pid', pastaMappings(c)), [
      '--config-net',
      '--quiet',
      '--netns',
      '/ns',
      '--pid',
      '/pid',
      ...ports,
      '-T',
      'none',
      '-U',
      'none',
    ])
  }
})

test('a port without a host port, a range, -P or sctp is refused rootless, never ignored', () => {
  for (const c of [
    ctr({ '80/tcp': [{ HostIp: '', HostPort: '' }] }),
    ctr({ '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }] }),
    { exposedPorts: { '80/tcp': {} }, hostConfig: { PublishAllPorts: true } },
    ctr({ '80/sctp': [{ HostIp: '', HostPort: '80' }] }),
  ]) {
    assert.throws(() => pastaMappings(c), InvalidArgument)
  }
})
