import { test } from 'node:test'
import assert from 'node:assert/strict'
import { portSummaries } from './ports.ts'

test("the container list's Ports: one entry per binding, exposed ones without a host side", () => {
  assert.deepEqual(
    portSummaries({
      '7000/tcp': null,
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
      '81/udp': [
        { HostIp: '127.0.0.1', HostPort: '8081' },
        { HostIp: '198.51.100.1', HostPort: '9081' },
      ],
    }),
    [
      { PrivatePort: 7000, Type: 'tcp' },
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { IP: '127.0.0.1', PrivatePort: 81, PublicPort: 8081, Type: 'udp' },
      { IP: '198.51.100.1', PrivatePort: 81, PublicPort: 9081, Type: 'udp' },
    ],
  )
})
