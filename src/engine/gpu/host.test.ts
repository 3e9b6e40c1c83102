// Discovery against fake host roots: what libnvidia-container would find there.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  containerLayout,
  discoverNvidia,
  loadCdiRegistry,
  parseDriverVersion,
  parseGpuInformation,
} from './host.ts'
import { FAKE_DRIVER, FAKE_GPUS, UVM_MAJOR, fakeNvidiaCdiSpec, makeFakeHost } from './testkit.ts'

describe('discovery', () => {
  let dir: string
  const fresh = async (name: string) => {
    const root = join(dir, name)
    await mkdir(root)
    return root
  }
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-gpuhost-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('a host without NVIDIA: nothing', async () => {
    assert.equal(await discoverNvidia(await fresh('empty')), undefined)
  })

  test('this machine has no NVIDIA GPU', async () => {
    assert.equal(await discoverNvidia('/'), undefined)
  })

  test('a full host: GPUs in bus order, nodes, libraries, binaries, firmware, IPC', async () => {
    const h = await makeFakeHost(await fresh('full'))
    const n = await discoverNvidia(h.root)
    assert.ok(n)
    assert.equal(n.driverVersion, FAKE_DRIVER)
    assert.deepEqual(
      n.gpus.map((g) => [g.index, g.busId, g.minor, g.uuid, g.model, g.node?.path]),
      [
        [0, '0000:3b:00.0', 1, FAKE_GPUS[0]?.uuid, 'Fake A100 40GB', '/dev/nvidia1'],
        [1, '0000:5e:00.0', 0, FAKE_GPUS[1]?.uuid, 'Fake A100 40GB', '/dev/nvidia0'],
        [2, '0000:86:00.0', 2, FAKE_GPUS[2]?.uuid, 'Fake A100 40GB', '/dev/nvidia2'],
      ],
    )
    const g0 = n.gpus[0]?.node
    assert.deepEqual(g0 && { ...g0, hostPath: undefined }, {
      hostPath: undefined,
      path: '/dev/nvidia1',
      type: 'c',
      major: 195,
      minor: 1,
      fileMode: 0o666,
      uid: 0,
      gid: 0,
    })
    assert.equal(g0?.hostPath, join(h.root, 'dev/nvidia1'))
    assert.deepEqual(
      [n.control.ctl, n.control.uvm, n.control.uvmTools, n.control.modeset].map((c) => [
        c?.path,
        c?.major,
        c?.minor,
      ]),
      [
        ['/dev/nvidiactl', 195, 255],
        ['/dev/nvidia-uvm', UVM_MAJOR, 0],
        ['/dev/nvidia-uvm-tools', UVM_MAJOR, 1],
        ['/dev/nvidia-modeset', 195, 254],
      ],
    )
    assert.deepEqual(
      n.caps.map((c) => c.path),
      ['/dev/nvidia-caps/nvidia-cap1', '/dev/nvidia-caps/nvidia-cap2'],
    )
    // The driver's libraries by their real names, with the names the linker knows them by;
    // libz (not the driver's) and the old driver's libnvidia-cfg stay out.
    assert.deepEqual(
      n.libraries.map((l) => [l.path, l.names.join(' '), l.lib32, l.capabilities.join(',')]),
      [
        [
          `/usr/lib/i386-linux-gnu/libcuda.so.${FAKE_DRIVER}`,
          'libcuda.so.1',
          true,
          'compute,video',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.${FAKE_DRIVER}`,
          'libGLX_nvidia.so.0',
          false,
          'graphics,display',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libcuda.so.${FAKE_DRIVER}`,
          'libcuda.so.1 libcuda.so',
          false,
          'compute,video',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libnvcuvid.so.${FAKE_DRIVER}`,
          'libnvcuvid.so.1',
          false,
          'video',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libnvidia-encode.so.${FAKE_DRIVER}`,
          'libnvidia-encode.so.1',
          false,
          'video',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libnvidia-glcore.so.${FAKE_DRIVER}`,
          `libnvidia-glcore.so.${FAKE_DRIVER}`,
          false,
          'graphics,display',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.${FAKE_DRIVER}`,
          'libnvidia-ml.so.1',
          false,
          'utility',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libnvidia-ngx.so.${FAKE_DRIVER}`,
          'libnvidia-ngx.so.1',
          false,
          'ngx',
        ],
        [
          `/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.${FAKE_DRIVER}`,
          'libnvidia-ptxjitcompiler.so.1',
          false,
          'compute,video',
        ],
      ],
    )
    assert.equal(
      n.libraries[2]?.hostPath,
      join(h.root, `usr/lib/x86_64-linux-gnu/libcuda.so.${FAKE_DRIVER}`),
    )
    assert.deepEqual(
      n.binaries.map((b) => [b.name, b.path, b.capability]),
      [
        ['nvidia-smi', '/usr/bin/nvidia-smi', 'utility'],
        ['nvidia-debugdump', '/usr/bin/nvidia-debugdump', 'utility'],
        ['nvidia-cuda-mps-control', '/usr/bin/nvidia-cuda-mps-control', 'compute'],
      ],
    )
    assert.deepEqual(
      n.firmware.map((f) => f.path),
      [
        `/lib/firmware/nvidia/${FAKE_DRIVER}/gsp_ga10x.bin`,
        `/lib/firmware/nvidia/${FAKE_DRIVER}/gsp_tu10x.bin`,
      ],
    )
    assert.deepEqual(
      n.ipc.map((i) => [i.path, i.capability]),
      [
        ['/var/run/nvidia-persistenced/socket', 'utility'],
        ['/tmp/nvidia-mps', 'compute'],
      ],
    )
    assert.deepEqual(n.warnings, [])
  })

  test('without /proc files: GPUs from the device nodes, version from libcuda', async () => {
    const h = await makeFakeHost(await fresh('noproc'), { procFiles: false })
    const n = await discoverNvidia(h.root)
    assert.ok(n)
    assert.equal(n.driverVersion, FAKE_DRIVER)
    assert.deepEqual(
      n.gpus.map((g) => [g.index, g.minor, g.uuid]),
      [
        [0, 0, undefined],
        [1, 1, undefined],
        [2, 2, undefined],
      ],
    )
  })

  test('a GPU whose node is missing is reported, not hidden', async () => {
    const h = await makeFakeHost(await fresh('nonode'), { nodes: false })
    const n = await discoverNvidia(h.root)
    assert.ok(n)
    assert.equal(n.gpus.length, 3)
    assert.equal(n.gpus[0]?.node, undefined)
    assert.deepEqual(n.warnings, [
      `GPU ${FAKE_GPUS[0]?.uuid}: /dev/nvidia1 is missing`,
      `GPU ${FAKE_GPUS[1]?.uuid}: /dev/nvidia0 is missing`,
      `GPU ${FAKE_GPUS[2]?.uuid}: /dev/nvidia2 is missing`,
      '/dev/nvidiactl is missing: CUDA cannot reach the driver',
    ])
  })

  test('no linker cache: a warning, no libraries', async () => {
    const h = await makeFakeHost(await fresh('nolibs'), { libraries: false })
    const n = await discoverNvidia(h.root)
    assert.deepEqual(n?.libraries, [])
    assert.match(n?.warnings.join('\n') ?? '', /no linker cache at \/etc\/ld\.so\.cache/)
  })

  test('symlinks in the host root stay inside it', async () => {
    const root = await fresh('escape')
    await mkdir(join(root, 'proc/driver/nvidia'), { recursive: true })
    await writeFile(
      join(root, 'proc/driver/nvidia/version'),
      'NVRM version: NVIDIA UNIX x86_64 Kernel Module  1.2.3  x\n',
    )
    await mkdir(join(root, 'usr'), { recursive: true })
    // /usr/bin → / on the host would find the host's own binaries; inside the root it is empty.
    await symlink('/', join(root, 'usr/bin'))
    await mkdir(join(root, 'etc'))
    await symlink('/etc/ld.so.cache', join(root, 'etc/ld.so.cache'))
    const n = await discoverNvidia(root)
    assert.ok(n)
    assert.deepEqual(n.binaries, [])
    assert.deepEqual(n.libraries, [])
    // The cache's link points at itself inside the root: a loop, reported.
    assert.match(
      n.warnings.join('\n'),
      /no linker cache at \/etc\/ld\.so\.cache \(too many levels of symbolic links/,
    )
  })

  test('parsers', () => {
    assert.equal(
      parseDriverVersion(
        'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  (dvs-builder@U16)  Thu Feb 22 01:25:25 UTC 2024',
      ),
      '550.54.14',
    )
    assert.equal(
      parseDriverVersion(
        'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Wed Oct 27 2021',
      ),
      '470.82.01',
    )
    assert.equal(parseDriverVersion('garbage'), undefined)
    assert.deepEqual(
      parseGpuInformation(
        'Model: \t\t Tesla V100\nGPU UUID: \t GPU-x\nBus Location: \t 0000:06:00.0\n',
      ),
      {
        Model: 'Tesla V100',
        'GPU UUID': 'GPU-x',
        'Bus Location': '0000:06:00.0',
      },
    )
  })

  test('CDI specs under the root: both directories, errors recorded', async () => {
    const h = await makeFakeHost(await fresh('cdi'))
    await mkdir(join(h.root, 'etc/cdi'))
    await mkdir(join(h.root, 'var/run/cdi'), { recursive: true })
    await writeFile(join(h.root, 'etc/cdi/nvidia.yaml'), fakeNvidiaCdiSpec(h))
    await writeFile(join(h.root, 'etc/cdi/README.txt'), 'not a spec')
    await mkdir(join(h.root, 'etc/cdi/dir.yaml'))
    await writeFile(join(h.root, 'var/run/cdi/bad.json'), '{"cdiVersion": "0.5.0"}')
    const reg = await loadCdiRegistry(h.root)
    assert.deepEqual([...reg.devices.keys()].sort(), [
      'nvidia.com/gpu=0',
      'nvidia.com/gpu=1',
      'nvidia.com/gpu=2',
      `nvidia.com/gpu=${FAKE_GPUS[0]?.uuid}`,
      `nvidia.com/gpu=${FAKE_GPUS[1]?.uuid}`,
      `nvidia.com/gpu=${FAKE_GPUS[2]?.uuid}`,
      'nvidia.com/gpu=all',
    ])
    assert.deepEqual(reg.errors, [
      {
        path: '/var/run/cdi/bad.json',
        message: 'invalid CDI Spec "/var/run/cdi/bad.json": invalid vendor. empty name',
      },
    ])
    assert.equal(reg.specs[0]?.path, '/etc/cdi/nvidia.yaml')
  })

  test("a container's library layout", async () => {
    const debian = await fresh('debian')
    await mkdir(join(debian, 'etc'))
    await writeFile(join(debian, 'etc/debian_version'), '12.5\n')
    assert.deepEqual(await containerLayout(debian, 'x64'), {
      libDir: '/usr/lib/x86_64-linux-gnu',
      lib32Dir: '/usr/lib/i386-linux-gnu',
      binDir: '/usr/bin',
    })
    assert.equal((await containerLayout(debian, 'arm64')).libDir, '/usr/lib/aarch64-linux-gnu')
    const rhel = await fresh('rhel')
    await mkdir(join(rhel, 'usr/lib64'), { recursive: true })
    await mkdir(join(rhel, 'usr/lib'), { recursive: true })
    assert.deepEqual(await containerLayout(rhel, 'x64'), {
      libDir: '/usr/lib64',
      lib32Dir: '/usr/lib',
      binDir: '/usr/bin',
    })
    const busybox = await fresh('busybox')
    assert.deepEqual(await containerLayout(busybox, 'x64'), {
      libDir: '/usr/lib64',
      lib32Dir: '/usr/lib32',
      binDir: '/usr/bin',
    })
  })
})
