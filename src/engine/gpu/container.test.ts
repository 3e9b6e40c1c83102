// The GPU module's edits in real containers (runc through conmon) on fake NVIDIA hosts: inside,
// exactly the requested GPUs' nodes are there and pass the device cgroup, the driver's files
// for the asked capabilities are mounted read-only, and the fake nvidia-smi lists just them.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ConmonRuntime } from '../runtime/conmon.ts'
import { readLog } from '../runtime/logs.ts'
import { ociSpec } from '../runtime/spec.ts'
import { makeBusyboxRootfs } from '../runtime/testutil.ts'
import { LocalGpus } from './local.ts'
import { parseDeviceRequests } from './request.ts'
import { CLI_REQUESTS, FAKE_DRIVER, FAKE_GPUS, fakeNvidiaCdiSpec, makeFakeHost } from './testkit.ts'
import type { GpuEdits } from './types.ts'

const [G0, G1, G2] = FAKE_GPUS.map((g) => g.uuid) as [string, string, string]

/** Prints what a test checks, one fact a line. */
const PROBE = `
for n in /dev/nvidia*; do
  [ -e "$n" ] || continue
  case "$(cat "$n" 2>&1 </dev/null)" in
    *"not permitted"*) echo "node $n denied" ;;
    *) echo "node $n open" ;;
  esac
done
# A GPU node made inside: the device cgroup must still deny what was not asked for.
for m in 0 1 2; do
  /bin/busybox mknod /dev/probe$m c 195 $m
  case "$(cat /dev/probe$m 2>&1 </dev/null)" in
    *"not permitted"*) echo "cgroup 195:$m denied" ;;
    *) echo "cgroup 195:$m allowed" ;;
  esac
done
for f in /usr/lib64/* /usr/lib32/* /usr/bin/nvidia* /lib/firmware/nvidia/*/*; do
  [ -e "$f" ] && echo "file $f"
done
grep -q "FAKE libcuda ${FAKE_DRIVER}" /usr/lib64/libcuda.so.1 && echo "libcuda is the driver's"
echo x > /usr/lib64/libcuda.so.1 2>/dev/null || echo "libcuda is read-only"
env | grep ^NVIDIA_ | /bin/busybox sort | /bin/busybox sed 's/^/env /'
l=/usr/lib/x86_64-linux-gnu/libcuda.so
[ -L $l ] && echo "link $l -> $(readlink $l)"

nvidia-smi -L | /bin/busybox sed 's/^/smi /'
`

/** nvidia-cdi-hook create-symlinks, as far as the fake spec uses it (runc gives it no PATH). */
const FAKE_CDI_HOOK = `#!${process.execPath}
const fs = require('node:fs')
const path = require('node:path')
const state = JSON.parse(fs.readFileSync(0, 'utf8'))
const spec = JSON.parse(fs.readFileSync(path.join(state.bundle, 'config.json'), 'utf8'))
const root = path.resolve(state.bundle, spec.root.path)
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '--link') continue
  const [target, link] = args[++i].split('::')
  fs.mkdirSync(path.dirname(path.join(root, link)), { recursive: true })
  fs.symlinkSync(target, path.join(root, link))
}
`

describe('GPU edits in real containers', () => {
  let dir: string
  let rt: ConmonRuntime
  const made: string[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-gpuctr-'))
    rt = new ConmonRuntime({ stateDir: join(dir, 'run') })
  })
  after(async () => {
    for (const id of made) {
      await rt.delete(id, true).catch(() => undefined)
      await rt.cleanup(id).catch(() => undefined)
    }
    await rm(dir, { recursive: true, force: true })
  })

  /** Runs the probe in a fresh busybox container with the edits; its output's lines. */
  async function probe(edits: GpuEdits): Promise<string[]> {
    const id = randomBytes(32).toString('hex')
    made.push(id)
    const rootfs = await makeBusyboxRootfs(join(dir, `rootfs-${id.slice(0, 8)}`))
    const bundle = join(dir, 'bundles', id)
    await mkdir(bundle, { recursive: true })
    // The edits reach the spec as the task runner passes them: one typed edit.
    const spec = ociSpec({
      id,
      rootfs,
      readonlyRootfs: false,
      hostname: 'gpu',
      process: {
        args: ['sh', '-c', PROBE],
        env: ['PATH=/usr/bin:/bin'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
        terminal: false,
      },
      mounts: [],
      deviceEdits: edits,
    })
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec))
    const logPath = join(bundle, 'ctr.log')
    await rt.create({ id, bundle, logPath, tty: false, openStdin: false, stdinOnce: false })
    await rt.start(id)
    const st = await rt.waitExit(id)
    let out = ''
    for await (const e of readLog(logPath, { follow: false })) out += e.data.toString()
    assert.equal(st.exitCode, 0, out)
    return out.split('\n').filter((l) => l !== '')
  }

  const input = (flags: string) => ({
    deviceRequests: parseDeviceRequests(CLI_REQUESTS[flags]),
    env: [],
    privileged: false,
  })

  test('discovery, --gpus "device=0,2": GPUs 0 and 2 only, compute and utility files', async () => {
    await mkdir(join(dir, 'host1'))
    const h = await makeFakeHost(join(dir, 'host1'))
    const gpus = new LocalGpus({ hostRoot: h.root })
    const edits = await gpus.edits(input('--gpus "device=0,2"'), join(dir, 'nothing'))
    assert.ok(edits)
    const lines = await probe(edits)
    // GPU 0 is minor 1, GPU 2 minor 2; minor 0 (GPU 1) is neither there nor allowed.
    assert.deepEqual(
      lines.filter((l) => l.startsWith('node ') || l.startsWith('cgroup ')),
      [
        'node /dev/nvidia-uvm open',
        'node /dev/nvidia-uvm-tools open',
        'node /dev/nvidia1 open',
        'node /dev/nvidia2 open',
        'node /dev/nvidiactl open',
        'cgroup 195:0 denied',
        'cgroup 195:1 allowed',
        'cgroup 195:2 allowed',
      ],
    )
    assert.deepEqual(
      lines.filter((l) => l.startsWith('file ')),
      [
        `file /usr/lib64/libcuda.so`,
        `file /usr/lib64/libcuda.so.1`,
        `file /usr/lib64/libcuda.so.${FAKE_DRIVER}`,
        `file /usr/lib64/libnvidia-ml.so.1`,
        `file /usr/lib64/libnvidia-ml.so.${FAKE_DRIVER}`,
        `file /usr/lib64/libnvidia-ptxjitcompiler.so.1`,
        `file /usr/lib64/libnvidia-ptxjitcompiler.so.${FAKE_DRIVER}`,
        'file /usr/bin/nvidia-cuda-mps-control',
        'file /usr/bin/nvidia-debugdump',
        'file /usr/bin/nvidia-smi',
        `file /lib/firmware/nvidia/${FAKE_DRIVER}/gsp_ga10x.bin`,
        `file /lib/firmware/nvidia/${FAKE_DRIVER}/gsp_tu10x.bin`,
      ],
    )
    assert.ok(lines.includes("libcuda is the driver's"))
    assert.ok(lines.includes('libcuda is read-only'))
    assert.deepEqual(
      lines.filter((l) => l.startsWith('env ')),
      ['env NVIDIA_VISIBLE_DEVICES=0,2'],
    )
    assert.deepEqual(
      lines.filter((l) => l.startsWith('smi ')),
      [`smi GPU 0: Fake A100 40GB (UUID: ${G0})`, `smi GPU 1: Fake A100 40GB (UUID: ${G2})`],
    )
  })

  test('CDI, --device nvidia.com/gpu=0 --device nvidia.com/gpu=1: GPUs 0 and 1 only', async () => {
    await mkdir(join(dir, 'host2'))
    const h = await makeFakeHost(join(dir, 'host2'))
    await mkdir(join(h.root, 'etc/cdi'))
    await writeFile(join(h.root, 'etc/cdi/nvidia.yaml'), fakeNvidiaCdiSpec(h))
    // The spec's createRuntime hook, as nvidia-cdi-hook create-symlinks does it: a link in the
    // container's root filesystem, made on the host before the process runs.
    await writeFile(join(h.root, 'usr/bin/nvidia-cdi-hook'), FAKE_CDI_HOOK, { mode: 0o755 })
    const gpus = new LocalGpus({ hostRoot: h.root })
    const edits = await gpus.edits(
      input('--device nvidia.com/gpu=0 --device nvidia.com/gpu=1'),
      join(dir, 'nothing'),
    )
    assert.ok(edits)
    const lines = await probe(edits)
    assert.deepEqual(
      lines.filter((l) => l.startsWith('cgroup ')),
      ['cgroup 195:0 allowed', 'cgroup 195:1 allowed', 'cgroup 195:2 denied'],
    )
    assert.deepEqual(
      lines.filter((l) => l.startsWith('smi ')),
      [`smi GPU 0: Fake A100 40GB (UUID: ${G0})`, `smi GPU 1: Fake A100 40GB (UUID: ${G1})`],
    )
    assert.deepEqual(
      lines.filter((l) => l.startsWith('env ')),
      ['env NVIDIA_VISIBLE_DEVICES=void'],
    )
    assert.deepEqual(
      lines.filter((l) => l.startsWith('link ')),
      ['link /usr/lib/x86_64-linux-gnu/libcuda.so -> libcuda.so.1'],
    )
  })
})
