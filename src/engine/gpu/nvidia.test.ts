// NVIDIA's variables read as NVIDIA's container toolkit reads them (internal/config/image).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import type { DriverCapability } from './types.ts'
import {
  ALL_CAPABILITIES,
  checkMigRequests,
  libraryFor,
  nvidiaWants,
  parseCapabilities,
  type NvidiaWants,
} from './nvidia.ts'

const DEFAULT: DriverCapability[] = ['compute', 'utility']
const ALL = [...ALL_CAPABILITIES]

describe('nvidiaWants', () => {
  const cases: [string, string[], NvidiaWants | undefined][] = [
    ['no NVIDIA variable: not a GPU container', ['PATH=/bin'], undefined],
    ['empty', ['NVIDIA_VISIBLE_DEVICES='], undefined],
    ['void', ['NVIDIA_VISIBLE_DEVICES=void'], undefined],
    ['void among others', ['NVIDIA_VISIBLE_DEVICES=0,void'], undefined],
    [
      'all, default capabilities',
      ['NVIDIA_VISIBLE_DEVICES=all'],
      { devices: 'all', capabilities: DEFAULT },
    ],
    [
      'none: the driver, no GPU',
      ['NVIDIA_VISIBLE_DEVICES=none'],
      { devices: 'none', capabilities: DEFAULT },
    ],
    [
      'a list, trimmed and deduplicated',
      ['NVIDIA_VISIBLE_DEVICES= 0, 2 ,0,,'],
      { devices: ['0', '2'], capabilities: DEFAULT },
    ],
    [
      'UUIDs',
      ['NVIDIA_VISIBLE_DEVICES=GPU-aa,GPU-bb'],
      { devices: ['GPU-aa', 'GPU-bb'], capabilities: DEFAULT },
    ],
    [
      'the first special value decides',
      ['NVIDIA_VISIBLE_DEVICES=0,all'],
      { devices: 'all', capabilities: DEFAULT },
    ],
    [
      'none before all',
      ['NVIDIA_VISIBLE_DEVICES=none,all'],
      { devices: 'none', capabilities: DEFAULT },
    ],
    [
      'the later variable wins',
      ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_VISIBLE_DEVICES=1'],
      { devices: ['1'], capabilities: DEFAULT },
    ],
    [
      'capabilities named',
      ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=video, compute'],
      { devices: 'all', capabilities: ['compute', 'video'] },
    ],
    [
      'capabilities all',
      ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=all'],
      { devices: 'all', capabilities: ALL },
    ],
    [
      'empty capabilities: the default',
      ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES='],
      { devices: 'all', capabilities: DEFAULT },
    ],
    [
      'a legacy CUDA image (CUDA_VERSION, no NVIDIA_REQUIRE_CUDA) gets every GPU and capability',
      ['CUDA_VERSION=9.0.176'],
      { devices: 'all', capabilities: ALL },
    ],
    [
      'a legacy image with its own capabilities',
      ['CUDA_VERSION=9.0.176', 'NVIDIA_DRIVER_CAPABILITIES=utility'],
      { devices: 'all', capabilities: ['utility'] },
    ],
    [
      'a current CUDA image without NVIDIA_VISIBLE_DEVICES asks for nothing',
      ['CUDA_VERSION=12.4.1', 'NVIDIA_REQUIRE_CUDA=cuda>=12.4'],
      undefined,
    ],
    [
      "NVIDIA's CUDA image as it is",
      [
        'PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/bin',
        'NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471',
        'NV_CUDA_CUDART_VERSION=12.4.127',
        'CUDA_VERSION=12.4.1',
        'LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64',
        'NVIDIA_VISIBLE_DEVICES=all',
        'NVIDIA_DRIVER_CAPABILITIES=compute,utility',
      ],
      { devices: 'all', capabilities: ['compute', 'utility'] },
    ],
  ]
  for (const [name, env, want] of cases) {
    test(name, () => assert.deepEqual(nvidiaWants(env), want))
  }

  test("an unknown capability is refused in the toolkit's words", () => {
    assert.throws(
      () =>
        nvidiaWants(['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=compute,telepathy']),
      (err: unknown) =>
        err instanceof InvalidArgument &&
        err.message ===
          "unsupported capabilities found in 'compute,telepathy' (allowed 'compute,compat32,display,graphics,ngx,utility,video')",
    )
  })

  test('parseCapabilities sorts and deduplicates', () => {
    assert.deepEqual(parseCapabilities('video,compute,video'), ['compute', 'video'])
    assert.deepEqual(parseCapabilities('graphics,all'), ALL)
  })
})

describe('MIG management needs a privileged container', () => {
  test("refused unprivileged, in the toolkit's words", () => {
    assert.throws(
      () => checkMigRequests(['NVIDIA_MIG_CONFIG_DEVICES=all'], false),
      /^InvalidArgument: cannot set MIG_CONFIG_DEVICES in non privileged container$/,
    )
    assert.throws(
      () => checkMigRequests(['NVIDIA_MIG_MONITOR_DEVICES=all'], false),
      /cannot set MIG_MONITOR_DEVICES in non privileged container/,
    )
  })
  test('allowed privileged, and an empty value is no request', () => {
    checkMigRequests(['NVIDIA_MIG_CONFIG_DEVICES=all'], true)
    checkMigRequests(['NVIDIA_MIG_CONFIG_DEVICES='], false)
  })
})

describe('libraryFor', () => {
  const cases: [string, string | undefined][] = [
    ['libcuda.so.1', 'libcuda.so'],
    ['libcuda.so', 'libcuda.so'],
    ['libcudadebugger.so.1', 'libcudadebugger.so'],
    ['libnvidia-ml.so.1', 'libnvidia-ml.so'],
    ['libnvidia-pkcs11-openssl3.so.550.54.14', 'libnvidia-pkcs11-openssl3.so'],
    ['libGLX_nvidia.so.0', 'libGLX_nvidia.so'],
    ['libGLX.so.0', undefined],
    ['libcudart.so.12', undefined],
    ['libz.so.1', undefined],
  ]
  for (const [key, want] of cases) {
    test(`${key} → ${want}`, () => assert.equal(libraryFor(key), want))
  }
})
