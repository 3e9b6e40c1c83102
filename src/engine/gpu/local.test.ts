// The GPU module end to end on fake host roots: the stock CLI's requests (and NVIDIA's
// variables in an image) become exactly the device nodes, cgroup rules, read-only mounts,
// variables and hooks NVIDIA's toolkit would give, by discovery or by a CDI spec.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { InvalidArgument } from '../errors.ts'
import { LocalGpus } from './local.ts'
import { parseDeviceRequests } from './request.ts'
import {
  CLI_REQUESTS,
  FAKE_DRIVER as V,
  FAKE_GPUS,
  fakeNvidiaCdiSpec,
  makeFakeHost,
  type FakeHost,
} from './testkit.ts'
import type { GpuEdits, GpuRequestInput } from './types.ts'

const [G0, G1, G2] = FAKE_GPUS.map((g) => g.uuid) as [string, string, string]

function input(flags: string | null, env: string[] = [], more: Partial<GpuRequestInput> = {}) {
  return {
    deviceRequests: flags === null ? [] : parseDeviceRequests(CLI_REQUESTS[flags]),
    env: ['PATH=/usr/bin:/bin', ...env],
    privileged: false,
    ...more,
  }
}

/** What a test compares: nodes with their cgroup access, mount targets, variables. */
function summary(e: GpuEdits | undefined) {
  if (e === undefined) return undefined
  return {
    devices: e.devices.map((d) => `${d.path} ${d.type} ${d.major}:${d.minor} ${d.access}`),
    mounts: e.mounts.map((m) => m.destination),
    env: e.env,
    gpus: e.gpus,
  }
}

const LIB = '/usr/lib64'
const COMPUTE_UTILITY_FILES = [
  `${LIB}/libcuda.so.${V}`,
  `${LIB}/libcuda.so.1`,
  `${LIB}/libcuda.so`,
  `${LIB}/libnvidia-ml.so.${V}`,
  `${LIB}/libnvidia-ml.so.1`,
  `${LIB}/libnvidia-ptxjitcompiler.so.${V}`,
  `${LIB}/libnvidia-ptxjitcompiler.so.1`,
  '/usr/bin/nvidia-smi',
  '/usr/bin/nvidia-debugdump',
  '/usr/bin/nvidia-cuda-mps-control',
  `/lib/firmware/nvidia/${V}/gsp_ga10x.bin`,
  `/lib/firmware/nvidia/${V}/gsp_tu10x.bin`,
  '/var/run/nvidia-persistenced/socket',
  '/tmp/nvidia-mps',
]
const CTL = [
  '/dev/nvidiactl c 195:255 rw',
  '/dev/nvidia-uvm c 507:0 rw',
  '/dev/nvidia-uvm-tools c 507:1 rw',
]
const gpuNode = (minor: number) => `/dev/nvidia${minor} c 195:${minor} rw`

describe('LocalGpus on a fake host', () => {
  let dir: string
  let host: FakeHost
  let gpus: LocalGpus
  /** The same host under the daemon setting --gpus-from-env. */
  let fromEnv: LocalGpus
  let rootfs: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-gpus-'))
    await mkdir(join(dir, 'host'))
    host = await makeFakeHost(join(dir, 'host'))
    gpus = new LocalGpus({ hostRoot: host.root })
    fromEnv = new LocalGpus({ hostRoot: host.root, fromEnv: true })
    rootfs = join(dir, 'rootfs')
    await mkdir(rootfs)
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  describe('discovery', () => {
    const cases: [string, string[], ReturnType<typeof summary>][] = [
      [
        '--gpus all',
        [],
        {
          devices: [gpuNode(1), gpuNode(0), gpuNode(2), ...CTL],
          mounts: COMPUTE_UTILITY_FILES,
          env: ['NVIDIA_VISIBLE_DEVICES=all'],
          gpus: [`0 (${G0})`, `1 (${G1})`, `2 (${G2})`],
        },
      ],
      [
        '--gpus 2',
        [],
        {
          devices: [gpuNode(1), gpuNode(0), ...CTL],
          mounts: COMPUTE_UTILITY_FILES,
          env: ['NVIDIA_VISIBLE_DEVICES=0,1'],
          gpus: [`0 (${G0})`, `1 (${G1})`],
        },
      ],
      [
        '--gpus "device=0,2"',
        [],
        {
          devices: [gpuNode(1), gpuNode(2), ...CTL],
          mounts: COMPUTE_UTILITY_FILES,
          env: ['NVIDIA_VISIBLE_DEVICES=0,2'],
          gpus: [`0 (${G0})`, `2 (${G2})`],
        },
      ],
      [
        `--gpus device=${G0}`,
        [],
        {
          devices: [gpuNode(1), ...CTL],
          mounts: COMPUTE_UTILITY_FILES,
          env: [`NVIDIA_VISIBLE_DEVICES=${G0}`],
          gpus: [`0 (${G0})`],
        },
      ],
      [
        '--gpus all,"capabilities=compute,utility"',
        [],
        {
          devices: [gpuNode(1), gpuNode(0), gpuNode(2), ...CTL],
          mounts: COMPUTE_UTILITY_FILES,
          env: ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=compute,utility'],
          gpus: [`0 (${G0})`, `1 (${G1})`, `2 (${G2})`],
        },
      ],
      [
        // No CDI spec: discovery answers to NVIDIA's CDI names.
        '--device nvidia.com/gpu=0 --device nvidia.com/gpu=1',
        [],
        {
          devices: [gpuNode(1), gpuNode(0), ...CTL],
          mounts: COMPUTE_UTILITY_FILES,
          env: [],
          gpus: [`0 (${G0})`, `1 (${G1})`],
        },
      ],
    ]
    for (const [flags, env, want] of cases) {
      test(flags, async () => {
        const i = input(flags, env)
        await gpus.check(i)
        const e = await gpus.edits(i, rootfs)
        assert.deepEqual(summary(e), want)
        assert.deepEqual(e?.providers, ['discovery'])
        // Every file is a read-only bind of a file inside the host root.
        for (const m of e?.mounts ?? []) {
          assert.equal(m.type, 'bind')
          assert.ok(m.options.includes('ro') && m.options.includes('nosuid'), m.destination)
          assert.ok(m.source.startsWith(`${host.root}/`), m.source)
        }
      })
    }

    test('`--gpus 0` asks for nothing', async () => {
      assert.equal(await gpus.edits(input('--gpus 0'), rootfs), undefined)
    })

    test("the image's capabilities choose the files: graphics, video, display, compat32, ngx", async () => {
      const e = await gpus.edits(
        input('--gpus all', ['NVIDIA_VISIBLE_DEVICES=all', 'NVIDIA_DRIVER_CAPABILITIES=all']),
        rootfs,
      )
      const s = summary(e)
      assert.ok(s)
      assert.deepEqual(s.devices, [
        gpuNode(1),
        gpuNode(0),
        gpuNode(2),
        ...CTL,
        '/dev/nvidia-modeset c 195:254 rw',
      ])
      for (const f of [
        `${LIB}/libGLX_nvidia.so.0`,
        `${LIB}/libnvidia-glcore.so.${V}`,
        `${LIB}/libnvidia-encode.so.1`,
        `${LIB}/libnvcuvid.so.1`,
        `${LIB}/libnvidia-ngx.so.1`,
        `/usr/lib32/libcuda.so.${V}`,
        `/usr/lib32/libcuda.so.1`,
      ]) {
        assert.ok(s.mounts.includes(f), f)
      }
    })

    test('utility only: nvidia-smi and NVML, no CUDA, no UVM', async () => {
      const s = summary(
        await gpus.edits(input('--gpus all', ['NVIDIA_DRIVER_CAPABILITIES=utility']), rootfs),
      )
      assert.deepEqual(s?.devices, [
        gpuNode(1),
        gpuNode(0),
        gpuNode(2),
        '/dev/nvidiactl c 195:255 rw',
      ])
      assert.deepEqual(s?.mounts, [
        `${LIB}/libnvidia-ml.so.${V}`,
        `${LIB}/libnvidia-ml.so.1`,
        '/usr/bin/nvidia-smi',
        '/usr/bin/nvidia-debugdump',
        `/lib/firmware/nvidia/${V}/gsp_ga10x.bin`,
        `/lib/firmware/nvidia/${V}/gsp_tu10x.bin`,
        '/var/run/nvidia-persistenced/socket',
      ])
    })

    test("the request's capabilities override the image's", async () => {
      const s = summary(
        await gpus.edits(
          input('--gpus all,"capabilities=compute,utility"', [
            'NVIDIA_DRIVER_CAPABILITIES=graphics',
          ]),
          rootfs,
        ),
      )
      assert.deepEqual(s?.mounts, COMPUTE_UTILITY_FILES)
    })

    test("the request's devices override the image's NVIDIA_VISIBLE_DEVICES", async () => {
      const s = summary(await gpus.edits(input('--gpus 2', ['NVIDIA_VISIBLE_DEVICES=all']), rootfs))
      assert.deepEqual(s?.gpus, [`0 (${G0})`, `1 (${G1})`])
    })

    test('a Debian image gets its libraries in the multiarch directory', async () => {
      const deb = join(dir, 'debian')
      await mkdir(join(deb, 'etc'), { recursive: true })
      await writeFile(join(deb, 'etc/debian_version'), '12.5\n')
      const s = summary(await gpus.edits(input('--gpus all'), deb))
      assert.ok(s?.mounts.includes(`/usr/lib/x86_64-linux-gnu/libcuda.so.1`))
      assert.ok(!s?.mounts.some((m) => m.startsWith('/usr/lib64/')))
    })

    test("without --gpus, the image's NVIDIA_VISIBLE_DEVICES gives GPUs only with the daemon setting", async () => {
      const env = ['NVIDIA_VISIBLE_DEVICES=1', 'NVIDIA_DRIVER_CAPABILITIES=utility']
      assert.equal(await gpus.edits(input(null, env), rootfs), undefined)
      const s = summary(await fromEnv.edits(input(null, env), rootfs))
      assert.deepEqual(s?.devices, [gpuNode(0), '/dev/nvidiactl c 195:255 rw'])
      assert.deepEqual(s?.env, [])
      assert.equal(
        await fromEnv.edits(input(null, ['NVIDIA_VISIBLE_DEVICES=void']), rootfs),
        undefined,
      )
      assert.equal(await fromEnv.edits(input(null, []), rootfs), undefined)
    })

    test('--runtime=nvidia: the environment gives GPUs to that container alone', async () => {
      const env = ['NVIDIA_VISIBLE_DEVICES=1', 'NVIDIA_DRIVER_CAPABILITIES=utility']
      await gpus.check(input(null, env, { nvidiaRuntime: true }))
      const s = summary(await gpus.edits(input(null, env, { nvidiaRuntime: true }), rootfs))
      assert.deepEqual(s?.devices, [gpuNode(0), '/dev/nvidiactl c 195:255 rw'])
      assert.deepEqual(s?.gpus, [`1 (${G1})`])
      assert.equal(await gpus.edits(input(null, [], { nvidiaRuntime: true }), rootfs), undefined)
    })

    test("--runtime=nvidia where there is no NVIDIA driver: dockerd's words", async () => {
      await mkdir(join(dir, 'bare'), { recursive: true })
      const bare = new LocalGpus({ hostRoot: join(dir, 'bare') })
      await assert.rejects(
        bare.check(input(null, ['NVIDIA_VISIBLE_DEVICES=all'], { nvidiaRuntime: true })),
        (err: unknown) =>
          err instanceof InvalidArgument &&
          err.message === 'unknown or invalid runtime name: nvidia',
      )
      // Without the runtime, the image's variable asks for nothing.
      await bare.check(input(null, ['NVIDIA_VISIBLE_DEVICES=all']))
    })

    test('NVIDIA_VISIBLE_DEVICES=none: the driver without a GPU', async () => {
      const s = summary(await fromEnv.edits(input(null, ['NVIDIA_VISIBLE_DEVICES=none']), rootfs))
      assert.deepEqual(s?.devices, CTL)
      assert.deepEqual(s?.gpus, [])
    })

    const errors: [string, GpuRequestInput, string][] = [
      [
        'a GPU the host lacks',
        input('--gpus "device=0,2"', [], {
          deviceRequests: parseDeviceRequests([{ DeviceIDs: ['7'], Capabilities: [['gpu']] }]),
        }),
        `device error: 7: unknown device (this host's GPUs: 0 (${G0}), 1 (${G1}), 2 (${G2}))`,
      ],
      [
        'more GPUs than there are',
        input(null, [], {
          deviceRequests: parseDeviceRequests([{ Count: 4, Capabilities: [['gpu']] }]),
        }),
        'device error: 3: unknown device',
      ],
      [
        'a UUID the host lacks',
        input(null, [], {
          deviceRequests: parseDeviceRequests([
            { DeviceIDs: ['GPU-00000000-0000-0000-0000-000000000000'], Capabilities: [['gpu']] },
          ]),
        }),
        'device error: GPU-00000000-0000-0000-0000-000000000000: unknown device',
      ],
      [
        'a MIG device',
        input(null, [], {
          deviceRequests: parseDeviceRequests([{ DeviceIDs: ['0:1'], Capabilities: [['gpu']] }]),
        }),
        'device error: 0:1: MIG devices are served through CDI',
      ],
      [
        'an unknown capability in the image',
        input('--gpus all', ['NVIDIA_DRIVER_CAPABILITIES=compute,x']),
        "unsupported capabilities found in 'compute,x'",
      ],
      [
        'MIG management unprivileged',
        input('--gpus all', ['NVIDIA_MIG_CONFIG_DEVICES=all']),
        'cannot set MIG_CONFIG_DEVICES in non privileged container',
      ],
      [
        'both a count and IDs',
        input('--gpus device=0,2'),
        'cannot set both Count and DeviceIDs on device request',
      ],
      [
        'a CDI vendor with no spec',
        input('--device nvidia.com/gpu=all', [], {
          deviceRequests: parseDeviceRequests([{ Driver: 'cdi', DeviceIDs: ['amd.com/gpu=0'] }]),
        }),
        'CDI device injection failed: unresolvable CDI devices amd.com/gpu=0: no CDI spec for vendor "amd.com" in /etc/cdi, /var/run/cdi',
      ],
    ]
    for (const [name, i, message] of errors) {
      test(`refuses ${name}, at check and at start`, async () => {
        const is = (err: unknown) =>
          err instanceof InvalidArgument && err.message.startsWith(message)
        await assert.rejects(gpus.check(i), is)
        await assert.rejects(gpus.edits(i, rootfs), is)
      })
    }

    test('inventory: discovery provides the GPUs and answers to CDI names', async () => {
      const inv = await gpus.inventory()
      assert.equal(inv.provider, 'discovery')
      assert.equal(inv.driverVersion, V)
      assert.deepEqual(
        inv.gpus.map((g) => g.uuid),
        [G0, G1, G2],
      )
      assert.deepEqual(
        inv.devices.filter((d) => d.source === 'discovery').map((d) => d.id),
        [
          'nvidia.com/gpu=all',
          'nvidia.com/gpu=0',
          `nvidia.com/gpu=${G0}`,
          'nvidia.com/gpu=1',
          `nvidia.com/gpu=${G1}`,
          'nvidia.com/gpu=2',
          `nvidia.com/gpu=${G2}`,
        ],
      )
      assert.deepEqual(inv.warnings, [])
    })
  })

  describe('a CDI spec for nvidia.com/gpu', () => {
    let cdiGpus: LocalGpus
    let cdiFromEnv: LocalGpus
    before(async () => {
      // The same host with NVIDIA's generated spec: `--gpus` now goes through CDI.
      await mkdir(join(dir, 'cdihost'))
      const h = await makeFakeHost(join(dir, 'cdihost'))
      await mkdir(join(h.root, 'etc/cdi'))
      await writeFile(join(h.root, 'etc/cdi/nvidia.yaml'), fakeNvidiaCdiSpec(h))
      cdiGpus = new LocalGpus({ hostRoot: h.root })
      cdiFromEnv = new LocalGpus({ hostRoot: h.root, fromEnv: true })
    })

    const common = {
      mounts: [
        '/usr/bin/nvidia-smi',
        `/usr/lib/x86_64-linux-gnu/libcuda.so.${V}`,
        `/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.${V}`,
      ],
      env: ['NVIDIA_VISIBLE_DEVICES=void'],
    }
    const ctl = [
      '/dev/nvidiactl c 195:255 rwm',
      '/dev/nvidia-uvm c 507:0 rwm',
      '/dev/nvidia-uvm-tools c 507:1 rwm',
    ]
    const cdiNode = (minor: number) => `/dev/nvidia${minor} c 195:${minor} rwm`
    const cases: [string, string[], string[]][] = [
      ['--gpus all', [cdiNode(1), cdiNode(0), cdiNode(2)], ['nvidia.com/gpu=all']],
      ['--gpus 2', [cdiNode(1), cdiNode(0)], ['nvidia.com/gpu=0', 'nvidia.com/gpu=1']],
      ['--gpus "device=0,2"', [cdiNode(1), cdiNode(2)], ['nvidia.com/gpu=0', 'nvidia.com/gpu=2']],
      [
        '--gpus device=GPU-3b000000-1111-2222-3333-444444444444',
        [cdiNode(1)],
        [`nvidia.com/gpu=${G0}`],
      ],
      [
        '--gpus all,"capabilities=compute,utility"',
        [cdiNode(1), cdiNode(0), cdiNode(2)],
        ['nvidia.com/gpu=all'],
      ],
      ['--device nvidia.com/gpu=all', [cdiNode(1), cdiNode(0), cdiNode(2)], ['nvidia.com/gpu=all']],
      [
        '--device nvidia.com/gpu=0 --device nvidia.com/gpu=1',
        [cdiNode(1), cdiNode(0)],
        ['nvidia.com/gpu=0', 'nvidia.com/gpu=1'],
      ],
    ]
    for (const [flags, nodes, names] of cases) {
      test(flags, async () => {
        const i = input(flags)
        await cdiGpus.check(i)
        const e = await cdiGpus.edits(i, rootfs)
        assert.deepEqual(summary(e), { devices: [...ctl, ...nodes], ...common, gpus: names })
        assert.deepEqual(e?.providers, ['cdi'])
        assert.deepEqual(
          e?.hooks.map((h) => [h.stage, h.path.slice(cdiGpus.hostRoot.length), h.args?.[1]]),
          [['createRuntime', '/usr/bin/nvidia-cdi-hook', 'create-symlinks']],
        )
      })
    }

    test("an unknown device, in CDI's words with what there is", async () => {
      await assert.rejects(
        cdiGpus.check(
          input(null, [], {
            deviceRequests: parseDeviceRequests([{ Count: 4, Capabilities: [['gpu']] }]),
          }),
        ),
        (err: unknown) =>
          err instanceof InvalidArgument &&
          err.message ===
            `CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=3: no device "3" of kind "nvidia.com/gpu" (devices: 0, 1, 2, ${G0}, ${G1}, ${G2}, all)`,
      )
    })

    test("the daemon setting maps the image's GPUs to CDI devices too", async () => {
      const s = summary(await cdiFromEnv.edits(input(null, ['NVIDIA_VISIBLE_DEVICES=2']), rootfs))
      assert.deepEqual(s?.gpus, ['nvidia.com/gpu=2'])
    })

    test('inventory: CDI provides the GPUs', async () => {
      const inv = await cdiGpus.inventory()
      assert.equal(inv.provider, 'cdi')
      assert.ok(inv.devices.every((d) => d.source === 'cdi'))
      assert.equal(inv.devices.length, 7)
    })
  })

  describe('CDI specs of other vendors', () => {
    let other: LocalGpus
    let root: string
    before(async () => {
      root = join(dir, 'vendor')
      await mkdir(join(root, 'etc/cdi'), { recursive: true })
      await mkdir(join(root, 'var/run/cdi'), { recursive: true })
      await mkdir(join(root, 'opt/vendor'), { recursive: true })
      await writeFile(
        join(root, 'etc/cdi/vendor.json'),
        JSON.stringify({
          cdiVersion: '0.7.0',
          kind: 'vendor.com/device',
          devices: [
            {
              name: 'a',
              containerEdits: {
                deviceNodes: [
                  { path: '/dev/vendor-a', type: 'c', major: 240, minor: 1, permissions: 'r' },
                ],
              },
            },
            {
              name: 'b',
              containerEdits: {
                deviceNodes: [{ path: '/dev/vendor-b', hostPath: '/dev/missing' }],
              },
            },
            {
              name: 'none',
              containerEdits: {
                deviceNodes: [
                  { path: '/dev/vendor-n', type: 'c', major: 240, minor: 9, permissions: 'none' },
                ],
              },
            },
            {
              name: 'fifo',
              containerEdits: { deviceNodes: [{ path: '/dev/vendor-p', type: 'p' }] },
            },
          ],
          containerEdits: {
            env: ['VENDOR=1', 'VENDOR=2'],
            additionalGids: [0, 44, 44],
            mounts: [
              {
                hostPath: '/opt/vendor',
                containerPath: '/opt/vendor/lib/deep',
                options: ['ro', 'bind'],
              },
              { hostPath: '/opt/vendor', containerPath: '/opt', options: ['ro', 'rbind'] },
            ],
          },
        }),
      )
      await writeFile(
        join(root, 'var/run/cdi/rdt.yaml'),
        'cdiVersion: 0.7.0\nkind: vendor.com/rdt\ndevices:\n- name: x\n  containerEdits:\n    intelRdt: {closID: c1}\n',
      )
      other = new LocalGpus({ hostRoot: root })
    })
    const cdi = (...names: string[]) =>
      input(null, [], {
        deviceRequests: parseDeviceRequests([{ Driver: 'cdi', DeviceIDs: names }]),
      })

    test('device nodes, permissions, gids, mounts by depth', async () => {
      const e = await other.edits(
        cdi('vendor.com/device=a', 'vendor.com/device=none', 'vendor.com/device=fifo'),
        rootfs,
      )
      assert.ok(e)
      assert.deepEqual(
        e.devices.map((d) => [d.path, d.type, d.major, d.minor, d.access]),
        [
          ['/dev/vendor-a', 'c', 240, 1, 'r'],
          ['/dev/vendor-n', 'c', 240, 9, ''],
          ['/dev/vendor-p', 'p', 0, 0, ''],
        ],
      )
      assert.deepEqual(e.env, ['VENDOR=1', 'VENDOR=2'])
      assert.deepEqual(e.additionalGids, [44])
      assert.deepEqual(
        e.mounts.map((m) => [m.destination, m.source, m.type]),
        [
          ['/opt', join(root, 'opt/vendor'), 'bind'],
          ['/opt/vendor/lib/deep', join(root, 'opt/vendor'), 'bind'],
        ],
      )
    })

    test('a node the spec leaves to the host, missing on the host', async () => {
      await assert.rejects(
        other.check(cdi('vendor.com/device=b')),
        /failed to stat CDI host device "\/dev\/missing": no such file or directory/,
      )
    })

    test('intelRdt is refused clearly', async () => {
      await assert.rejects(
        other.edits(cdi('vendor.com/rdt=x'), rootfs),
        /intelRdt edits are not supported by berth/,
      )
    })

    test('an unknown class and an unknown device', async () => {
      await assert.rejects(
        other.check(cdi('vendor.com/gpu=0')),
        /vendor "vendor.com" has no device class "gpu" \(classes: device, rdt\)/,
      )
      await assert.rejects(
        other.check(cdi('vendor.com/device=z')),
        /no device "z" of kind "vendor.com\/device" \(devices: a, b, fifo, none\)/,
      )
    })

    test("no NVIDIA here: --gpus is Docker's error", async () => {
      await assert.rejects(
        other.check(input('--gpus all')),
        (err: unknown) =>
          err instanceof InvalidArgument &&
          err.message === 'could not select device driver "" with capabilities: [[gpu]]',
      )
      const inv = await other.inventory()
      assert.equal(inv.provider, 'none')
      assert.deepEqual(inv.gpus, [])
    })
  })
})
