// A fake NVIDIA host for tests on machines without a GPU: a directory laid out as a host root
// with character devices made with NVIDIA's device numbers, the driver's /proc files, fake
// driver libraries (real ELF shared objects) in a linker cache made by the real ldconfig, a
// fake nvidia-smi that lists the GPUs whose nodes it may open, firmware, IPC endpoints, and,
// when asked, the CDI spec NVIDIA's generator would write for it.
import { execFile } from 'node:child_process'
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { S_IFCHR, mknod } from '../sys/libc.ts'
import { fakeSharedObject } from './elf.ts'

const run = promisify(execFile)

export interface FakeGpu {
  busId: string
  minor: number
  uuid: string
  model: string
}

/** Three GPUs whose minors differ from their bus order, as can happen on a real host. */
export const FAKE_GPUS: readonly FakeGpu[] = [
  {
    busId: '0000:3b:00.0',
    minor: 1,
    uuid: 'GPU-3b000000-1111-2222-3333-444444444444',
    model: 'Fake A100 40GB',
  },
  {
    busId: '0000:5e:00.0',
    minor: 0,
    uuid: 'GPU-5e000000-1111-2222-3333-444444444444',
    model: 'Fake A100 40GB',
  },
  {
    busId: '0000:86:00.0',
    minor: 2,
    uuid: 'GPU-86000000-1111-2222-3333-444444444444',
    model: 'Fake A100 40GB',
  },
]

export const FAKE_DRIVER = '550.54.14'
/** nvidia-uvm and nvidia-caps get dynamic majors; these stand in for them. */
export const UVM_MAJOR = 507
export const CAPS_MAJOR = 508

/** Fake driver libraries: name (as the driver ships it) → soname. */
export const FAKE_LIBS: Readonly<Record<string, string>> = {
  libcuda: 'libcuda.so.1',
  'libnvidia-ml': 'libnvidia-ml.so.1',
  'libnvidia-ptxjitcompiler': 'libnvidia-ptxjitcompiler.so.1',
  'libnvidia-encode': 'libnvidia-encode.so.1',
  libnvcuvid: 'libnvcuvid.so.1',
  libGLX_nvidia: 'libGLX_nvidia.so.0',
  'libnvidia-glcore': `libnvidia-glcore.so.${FAKE_DRIVER}`,
  'libnvidia-ngx': 'libnvidia-ngx.so.1',
}

export interface FakeHostOptions {
  gpus?: readonly FakeGpu[]
  /** Write /proc/driver/nvidia (version and per-GPU information). Default true. */
  procFiles?: boolean
  /** Make the device nodes. Default true. */
  nodes?: boolean
  /** Libraries and the linker cache. Default true. */
  libraries?: boolean
  /** 32-bit libcuda for compat32. Default true. */
  lib32?: boolean
  /** An older driver's libcuda left in the cache, which discovery must skip. Default true. */
  stale?: boolean
}

export interface FakeHost {
  root: string
  gpus: readonly FakeGpu[]
  driverVersion: string
  libDir: string
}

async function node(root: string, path: string, major: number, minor: number): Promise<void> {
  const p = join(root, path)
  await mkdir(dirname(p), { recursive: true })
  mknod(p, S_IFCHR | 0o666, major, minor)
  await chmod(p, 0o666) // as the driver makes them, whatever the umask
}

async function file(root: string, path: string, data: string | Buffer, mode = 0o644) {
  const p = join(root, path)
  await mkdir(dirname(p), { recursive: true })
  await writeFile(p, data, { mode })
  await chmod(p, mode)
}

/** The fake nvidia-smi: GPUs whose nodes the container may open, in bus order, as `-L` lists them. */
export function fakeNvidiaSmi(gpus: readonly FakeGpu[], version = FAKE_DRIVER): string {
  const table = gpus.map((g) => `${g.minor} ${g.uuid} ${g.model}`).join('\n')
  return `#!/bin/sh
# A fake nvidia-smi for tests: a GPU is listed when its device node is there and the
# container's device cgroup lets it be opened (without a driver, open(2) then fails with
# "No such device or address"; a node the cgroup denies fails with "Operation not permitted").
[ "$1" = "-L" ] || echo "NVIDIA-SMI ${version}    Driver Version: ${version}"
i=0
while read -r minor uuid model; do
  n=/dev/nvidia$minor
  [ -c "$n" ] || continue
  case "$(cat "$n" 2>&1 </dev/null)" in *"not permitted"*) continue ;; esac
  echo "GPU $i: $model (UUID: $uuid)"
  i=$((i + 1))
done <<'EOF'
${table}
EOF
[ "$i" -gt 0 ] || { echo "No devices were found"; exit 6; }
`
}

/** Makes a fake NVIDIA host under `root` (an empty directory). */
export async function makeFakeHost(root: string, o: FakeHostOptions = {}): Promise<FakeHost> {
  const gpus = o.gpus ?? FAKE_GPUS
  const v = FAKE_DRIVER
  const libDir = '/usr/lib/x86_64-linux-gnu'
  if (o.procFiles ?? true) {
    await file(
      root,
      '/proc/driver/nvidia/version',
      `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${v}  Thu Feb 22 01:44:30 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n`,
    )
    for (const g of gpus) {
      await file(
        root,
        `/proc/driver/nvidia/gpus/${g.busId}/information`,
        [
          `Model: \t\t ${g.model}`,
          'IRQ:   \t\t 408',
          `GPU UUID: \t ${g.uuid}`,
          'Video BIOS: \t 92.00.45.00.03',
          'Bus Type: \t PCIe',
          'DMA Size: \t 47 bits',
          'DMA Mask: \t 0x7fffffffffff',
          `Bus Location: \t ${g.busId}`,
          `Device Minor: \t ${g.minor}`,
          'GPU Excluded:\t No',
          '',
        ].join('\n'),
      )
    }
  }
  if (o.nodes ?? true) {
    for (const g of gpus) await node(root, `/dev/nvidia${g.minor}`, 195, g.minor)
    await node(root, '/dev/nvidiactl', 195, 255)
    await node(root, '/dev/nvidia-modeset', 195, 254)
    await node(root, '/dev/nvidia-uvm', UVM_MAJOR, 0)
    await node(root, '/dev/nvidia-uvm-tools', UVM_MAJOR, 1)
    await node(root, '/dev/nvidia-caps/nvidia-cap1', CAPS_MAJOR, 1)
    await node(root, '/dev/nvidia-caps/nvidia-cap2', CAPS_MAJOR, 2)
  }
  if (o.libraries ?? true) {
    for (const [name, soname] of Object.entries(FAKE_LIBS)) {
      await file(
        root,
        `${libDir}/${name}.so.${v}`,
        fakeSharedObject({ soname, marker: `FAKE ${name} ${v}` }),
      )
    }
    // The links the driver's installer makes for libcuda (ldconfig would make the first).
    await symlink(`libcuda.so.${v}`, join(root, libDir, 'libcuda.so.1'))
    await symlink('libcuda.so.1', join(root, libDir, 'libcuda.so'))
    // A library that is not the driver's, which must stay out.
    await file(root, `${libDir}/libz.so.1.2.13`, fakeSharedObject({ soname: 'libz.so.1' }))
    if (o.lib32 ?? true) {
      await file(
        root,
        `/usr/lib/i386-linux-gnu/libcuda.so.${v}`,
        fakeSharedObject({ soname: 'libcuda.so.1', arch: 'ia32', marker: `FAKE libcuda32 ${v}` }),
      )
    }
    if (o.stale ?? true) {
      // An old driver's library under another name still in the cache.
      await file(
        root,
        '/usr/lib/nvidia-old/libnvidia-cfg.so.470.82.01',
        fakeSharedObject({ soname: 'libnvidia-cfg.so.1' }),
      )
    }
    await file(root, '/etc/ld.so.conf', `${libDir}\n/usr/lib/i386-linux-gnu\n/usr/lib/nvidia-old\n`)
    await run('ldconfig', ['-r', root])
  }
  await file(root, '/usr/bin/nvidia-smi', fakeNvidiaSmi(gpus), 0o755)
  await file(root, '/usr/bin/nvidia-debugdump', '#!/bin/sh\necho debugdump\n', 0o755)
  await file(root, '/usr/bin/nvidia-cuda-mps-control', '#!/bin/sh\necho mps\n', 0o755)
  await file(root, `/lib/firmware/nvidia/${v}/gsp_ga10x.bin`, 'FAKE GSP ga10x')
  await file(root, `/lib/firmware/nvidia/${v}/gsp_tu10x.bin`, 'FAKE GSP tu10x')
  await file(root, '/var/run/nvidia-persistenced/socket', '')
  await mkdir(join(root, '/tmp/nvidia-mps'), { recursive: true })
  return { root, gpus, driverVersion: v, libDir }
}

/**
 * The CDI spec `nvidia-ctk cdi generate` would write for a fake host: one device per GPU by
 * index and by UUID, "all", and common edits (control nodes, libraries, nvidia-smi, a hook).
 * `hook` is the hook's path (a script of the test's), as the generator names nvidia-cdi-hook.
 */
export function fakeNvidiaCdiSpec(h: FakeHost, hook = '/usr/bin/nvidia-cdi-hook'): string {
  const ordered = [...h.gpus].sort((a, b) => a.busId.localeCompare(b.busId))
  const gpuEdits = (gs: readonly FakeGpu[]) =>
    `    containerEdits:\n      deviceNodes:\n${gs.map((g) => `      - path: /dev/nvidia${g.minor}\n`).join('')}`
  const devices = [
    ...ordered.map((g, i) => `  - name: "${i}"\n${gpuEdits([g])}`),
    ...ordered.map((g) => `  - name: ${g.uuid}\n${gpuEdits([g])}`),
    `  - name: all\n${gpuEdits(ordered)}`,
  ]
  const lib = (name: string) =>
    `    - hostPath: ${h.libDir}/${name}.so.${h.driverVersion}\n      containerPath: ${h.libDir}/${name}.so.${h.driverVersion}\n      options: [ro, nosuid, nodev, rbind, rprivate]\n`
  return `---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
${devices.join('')}containerEdits:
  env:
  - NVIDIA_VISIBLE_DEVICES=void
  deviceNodes:
  - path: /dev/nvidiactl
  - path: /dev/nvidia-uvm
  - path: /dev/nvidia-uvm-tools
  mounts:
${lib('libcuda')}${lib('libnvidia-ml')}    - hostPath: /usr/bin/nvidia-smi
      containerPath: /usr/bin/nvidia-smi
      options: [ro, nosuid, nodev, rbind, rprivate]
  hooks:
  - hookName: createRuntime
    path: ${hook}
    args: [nvidia-cdi-hook, create-symlinks, --link, libcuda.so.1::${h.libDir}/libcuda.so]
`
}

/** What `docker create FLAGS busybox` sends, byte for byte (docker CLI 28.2.2). */
export const CLI_REQUESTS: Record<string, unknown> = {
  '--gpus all': [{ Driver: '', Count: -1, DeviceIDs: null, Capabilities: [['gpu']], Options: {} }],
  '--gpus 2': [{ Driver: '', Count: 2, DeviceIDs: null, Capabilities: [['gpu']], Options: {} }],
  '--gpus "device=0,2"': [
    { Driver: '', Count: 0, DeviceIDs: ['0', '2'], Capabilities: [['gpu']], Options: {} },
  ],
  '--gpus device=GPU-3b000000-1111-2222-3333-444444444444': [
    {
      Driver: '',
      Count: 0,
      DeviceIDs: ['GPU-3b000000-1111-2222-3333-444444444444'],
      Capabilities: [['gpu']],
      Options: {},
    },
  ],
  '--gpus all,"capabilities=compute,utility"': [
    {
      Driver: '',
      Count: -1,
      DeviceIDs: null,
      Capabilities: [['compute', 'utility', 'gpu']],
      Options: {},
    },
  ],
  '--device nvidia.com/gpu=all': [
    {
      Driver: 'cdi',
      Count: 0,
      DeviceIDs: ['nvidia.com/gpu=all'],
      Capabilities: null,
      Options: null,
    },
  ],
  '--device nvidia.com/gpu=0 --device nvidia.com/gpu=1': [
    {
      Driver: 'cdi',
      Count: 0,
      DeviceIDs: ['nvidia.com/gpu=0', 'nvidia.com/gpu=1'],
      Capabilities: null,
      Options: null,
    },
  ],
  '--gpus count=1,driver=nvidia': [
    { Driver: 'nvidia', Count: 1, DeviceIDs: null, Capabilities: [['gpu']], Options: {} },
  ],
  '--gpus 0': [{ Driver: '', Count: 0, DeviceIDs: null, Capabilities: [['gpu']], Options: {} }],
  // Unquoted, the CLI's CSV reader splits the list: a count and one ID.
  '--gpus device=0,2': [
    { Driver: '', Count: 2, DeviceIDs: ['0'], Capabilities: [['gpu']], Options: {} },
  ],
  '--gpus all --gpus device=1': [
    { Driver: '', Count: -1, DeviceIDs: null, Capabilities: [['gpu']], Options: {} },
    { Driver: '', Count: 0, DeviceIDs: ['1'], Capabilities: [['gpu']], Options: {} },
  ],
  '--gpus count=all,options=a=b': [
    { Driver: '', Count: -1, DeviceIDs: null, Capabilities: [['gpu']], Options: { a: 'b' } },
  ],
}
