// HostConfig.DeviceRequests exactly as the stock docker CLI v28 sends them (captured from
// `docker create` against a listening socket), and how dockerd hands each to a driver.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { CLI_REQUESTS } from './testkit.ts'
import {
  claimsFor,
  formatCapabilities,
  matchCapabilities,
  parseDeviceRequests,
  requestedIds,
  type Claim,
} from './request.ts'

describe("claimsFor: the stock CLI's requests on a host with NVIDIA's driver", () => {
  const want: Record<string, Claim[] | RegExp> = {
    '--gpus all': [{ kind: 'nvidia', ids: ['all'], capabilities: [] }],
    '--gpus 2': [{ kind: 'nvidia', ids: ['0', '1'], capabilities: [] }],
    '--gpus "device=0,2"': [{ kind: 'nvidia', ids: ['0', '2'], capabilities: [] }],
    '--gpus device=GPU-3b000000-1111-2222-3333-444444444444': [
      { kind: 'nvidia', ids: ['GPU-3b000000-1111-2222-3333-444444444444'], capabilities: [] },
    ],
    '--gpus all,"capabilities=compute,utility"': [
      { kind: 'nvidia', ids: ['all'], capabilities: ['compute', 'utility'] },
    ],
    '--device nvidia.com/gpu=all': [{ kind: 'cdi', names: ['nvidia.com/gpu=all'] }],
    '--device nvidia.com/gpu=0 --device nvidia.com/gpu=1': [
      { kind: 'cdi', names: ['nvidia.com/gpu=0', 'nvidia.com/gpu=1'] },
    ],
    '--gpus count=1,driver=nvidia': [{ kind: 'nvidia', ids: ['0'], capabilities: [] }],
    '--gpus 0': [{ kind: 'nvidia', ids: [], capabilities: [] }],
    '--gpus device=0,2': /^cannot set both Count and DeviceIDs on device request$/,
    '--gpus all --gpus device=1': [
      { kind: 'nvidia', ids: ['all'], capabilities: [] },
      { kind: 'nvidia', ids: ['1'], capabilities: [] },
    ],
    '--gpus count=all,options=a=b': [{ kind: 'nvidia', ids: ['all'], capabilities: [] }],
  }
  for (const [flags, body] of Object.entries(CLI_REQUESTS)) {
    test(flags, () => {
      const w = want[flags]
      assert.ok(w !== undefined, `no expectation for ${flags}`)
      const reqs = parseDeviceRequests(body)
      if (w instanceof RegExp) {
        assert.throws(
          () => claimsFor(reqs, true),
          (err: unknown) => err instanceof InvalidArgument && w.test(err.message),
        )
      } else {
        assert.deepEqual(claimsFor(reqs, true), w)
      }
    })
  }
})

describe('claimsFor: no NVIDIA driver on the host (dockerd without the toolkit)', () => {
  const cases: [string, string][] = [
    ['--gpus all', 'could not select device driver "" with capabilities: [[gpu]]'],
    [
      '--gpus all,"capabilities=compute,utility"',
      'could not select device driver "" with capabilities: [[compute utility gpu]]',
    ],
    [
      '--gpus count=1,driver=nvidia',
      'could not select device driver "nvidia" with capabilities: [[gpu]]',
    ],
  ]
  for (const [flags, message] of cases) {
    test(flags, () => {
      assert.throws(
        () => claimsFor(parseDeviceRequests(CLI_REQUESTS[flags]), false),
        (err: unknown) =>
          err instanceof InvalidArgument && err.status === 400 && err.message === message,
      )
    })
  }
  test('CDI requests still go to the CDI driver', () => {
    assert.deepEqual(
      claimsFor(parseDeviceRequests(CLI_REQUESTS['--device nvidia.com/gpu=all']), false),
      [{ kind: 'cdi', names: ['nvidia.com/gpu=all'] }],
    )
  })
})

describe('claimsFor: requests no driver takes', () => {
  const r = (o: object) => parseDeviceRequests([o])
  const cases: [string, unknown, string][] = [
    [
      'a capability NVIDIA does not have',
      r({ Count: -1, Capabilities: [['gpu', 'tpu']] }),
      'could not select device driver "" with capabilities: [[gpu tpu]]',
    ],
    [
      'ngx, which dockerd does not list',
      r({ Count: -1, Capabilities: [['ngx', 'gpu']] }),
      'could not select device driver "" with capabilities: [[ngx gpu]]',
    ],
    [
      'no capabilities at all',
      r({ Count: -1 }),
      'could not select device driver "" with capabilities: []',
    ],
    [
      'another driver',
      r({ Driver: 'amd', Count: -1, Capabilities: [['gpu']] }),
      'could not select device driver "amd" with capabilities: [[gpu]]',
    ],
    [
      'a count on a CDI request',
      r({ Driver: 'cdi', Count: 1, DeviceIDs: ['nvidia.com/gpu=0'] }),
      'unexpected count in CDI device request',
    ],
    [
      'options on a CDI request',
      r({ Driver: 'cdi', DeviceIDs: ['nvidia.com/gpu=0'], Options: { x: 'y' } }),
      'unexpected options in CDI device request',
    ],
  ]
  for (const [name, reqs, message] of cases) {
    test(name, () => {
      assert.throws(
        () => claimsFor(reqs as ReturnType<typeof parseDeviceRequests>, true),
        (err: unknown) => err instanceof InvalidArgument && err.message === message,
      )
    })
  }

  test('an OR list: the first AND list NVIDIA holds wins', () => {
    const reqs = parseDeviceRequests([{ Count: 1, Capabilities: [['tpu'], ['gpu', 'video']] }])
    assert.deepEqual(claimsFor(reqs, true), [
      { kind: 'nvidia', ids: ['0'], capabilities: ['video'] },
    ])
  })
  test('the nvidia driver by name ignores capabilities it lacks', () => {
    const reqs = parseDeviceRequests([{ Driver: 'nvidia', Count: -1, Capabilities: [['tpu']] }])
    assert.deepEqual(claimsFor(reqs, true), [{ kind: 'nvidia', ids: ['all'], capabilities: [] }])
  })
})

describe('parseDeviceRequests', () => {
  test('null and missing fields are zero values', () => {
    assert.deepEqual(parseDeviceRequests(null), [])
    assert.deepEqual(parseDeviceRequests([{}]), [
      { Driver: '', Count: 0, DeviceIDs: [], Capabilities: [], Options: {} },
    ])
  })
  const bad: [string, unknown, RegExp][] = [
    ['not a list', { Count: 1 }, /must be a list/],
    ['an entry not an object', [1], /entries must be objects/],
    ['a fractional count', [{ Count: 1.5 }], /Count must be an integer/],
    ['a numeric driver', [{ Driver: 7 }], /Driver must be a string/],
    ['IDs not strings', [{ DeviceIDs: [0] }], /DeviceIDs must be a list of strings/],
    [
      'capabilities not lists',
      [{ Capabilities: ['gpu'] }],
      /Capabilities must be a list of strings/,
    ],
    ['options not strings', [{ Options: { a: 1 } }], /Options values must be strings/],
  ]
  for (const [name, v, re] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => parseDeviceRequests(v),
        (err: unknown) => err instanceof InvalidArgument && re.test(err.message),
      )
    })
  }
})

describe('helpers', () => {
  test("formatCapabilities is Go's %v", () => {
    assert.equal(formatCapabilities([]), '[]')
    assert.equal(formatCapabilities([['gpu']]), '[[gpu]]')
    assert.equal(formatCapabilities([['a', 'b'], ['c']]), '[[a b] [c]]')
  })
  test('matchCapabilities: an empty AND list matches anything', () => {
    assert.deepEqual(matchCapabilities(new Set(['gpu']), [[]]), [])
    assert.equal(matchCapabilities(new Set(['gpu']), []), undefined)
  })
  test('requestedIds', () => {
    const base = { Driver: '', Capabilities: [], Options: {} }
    assert.deepEqual(requestedIds({ ...base, Count: 3, DeviceIDs: [] }), ['0', '1', '2'])
    assert.deepEqual(requestedIds({ ...base, Count: -1, DeviceIDs: [] }), ['all'])
    assert.deepEqual(requestedIds({ ...base, Count: 0, DeviceIDs: [] }), [])
    assert.deepEqual(requestedIds({ ...base, Count: 0, DeviceIDs: ['GPU-x'] }), ['GPU-x'])
  })
})
