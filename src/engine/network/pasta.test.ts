import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgument } from '../errors.ts'
import { pastaArgs, pastaRequests } from './pasta.ts'
import type { PortMapping } from './ports.ts'

const ctr = (
  PortBindings: Record<string, { HostIp: string; HostPort: string }[] | null>,
  PublishAllPorts = false,
) => ({
  exposedPorts: {},
  hostConfig: { PortBindings, PublishAllPorts },
})

const m = (
  proto: 'tcp' | 'udp',
  hostIp: string,
  hostPort: number,
  containerPort: number,
): PortMapping => ({ proto, hostIp, hostPort, containerPort })

test('pasta forwards exactly the published ports, on the address asked for', () => {
  const table: [PortMapping[], string[]][] = [
    [[], ['-t', 'none', '-u', 'none']],
    [[m('tcp', '', 8080, 80)], ['-t', '8080:80', '-u', 'none']],
    [
      [m('tcp', '127.0.0.1', 8080, 80), m('tcp', '', 8081, 80), m('udp', '', 5353, 53)],
      ['-t', '127.0.0.1/8080:80,8081:80', '-u', '5353:53'],
    ],
  ]
  for (const [ports, args] of table) {
    assert.deepEqual(pastaArgs('/ns', '/pid', ports), [
      '--config-net',
      '--quiet',
      '--netns',
      '/ns',
      '--pid',
      '/pid',
      ...args,
      '-T',
      'none',
      '-U',
      'none',
    ])
  }
})

test('rootless ports: no host port, a range and -P are requests berthd resolves; sctp is refused', () => {
  assert.deepEqual(pastaRequests(ctr({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] })), [
    { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1' },
  ])
  assert.deepEqual(pastaRequests(ctr({ '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }] })), [
    { proto: 'tcp', containerPort: 80, hostIp: '', hostPorts: { first: 8000, last: 8010 } },
  ])
  const all = pastaRequests({
    exposedPorts: { '80/tcp': {} },
    hostConfig: { PublishAllPorts: true },
  })
  assert.equal(all.length, 1)
  assert.equal(all[0]?.hostPorts, undefined)
  assert.throws(
    () => pastaRequests(ctr({ '80/sctp': [{ HostIp: '', HostPort: '80' }] })),
    InvalidArgument,
  )
})
