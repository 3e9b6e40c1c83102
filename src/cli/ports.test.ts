// PORTS as the docker CLI shows it (the second case is what Debian's dockerd and docker ps showed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { displayablePorts } from './formatters.ts'

test('ps PORTS: same-number ports grouped into ranges per address, the others one by one', () => {
  const cases: [Parameters<typeof displayablePorts>[0], string][] = [
    [[], ''],
    [[{ PrivatePort: 90, Type: 'tcp' }], '90/tcp'],
    [
      // docker run -p 8080:80 -p 127.0.0.1::81/udp --expose 90 -p 9000-9002:9000-9002
      [
        { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '127.0.0.1', PrivatePort: 81, PublicPort: 32768, Type: 'udp' },
        { PrivatePort: 90, Type: 'tcp' },
        { IP: '::', PrivatePort: 9002, PublicPort: 9002, Type: 'tcp' },
        { IP: '0.0.0.0', PrivatePort: 9000, PublicPort: 9000, Type: 'tcp' },
        { IP: '::', PrivatePort: 9000, PublicPort: 9000, Type: 'tcp' },
        { IP: '0.0.0.0', PrivatePort: 9001, PublicPort: 9001, Type: 'tcp' },
        { IP: '::', PrivatePort: 9001, PublicPort: 9001, Type: 'tcp' },
        { IP: '0.0.0.0', PrivatePort: 9002, PublicPort: 9002, Type: 'tcp' },
      ],
      '90/tcp, 0.0.0.0:9000-9002->9000-9002/tcp, [::]:9000-9002->9000-9002/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 127.0.0.1:32768->81/udp',
    ],
    [
      // A gap starts a new range for the same address and protocol.
      [
        { PrivatePort: 7000, Type: 'tcp' },
        { PrivatePort: 7001, Type: 'tcp' },
        { PrivatePort: 7005, Type: 'tcp' },
        { PrivatePort: 7000, Type: 'udp' },
      ],
      '7000-7001/tcp, 7005/tcp, 7000/udp',
    ],
  ]
  for (const [ports, want] of cases) assert.equal(displayablePorts(ports), want)
})
