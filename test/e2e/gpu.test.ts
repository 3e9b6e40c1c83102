// GPUs end to end, on fake NVIDIA hosts (this machine has no GPU): berthd reads discovery and
// the CDI specs from a host root the tests make (device nodes with NVIDIA's numbers, driver
// libraries in a linker cache, a fake nvidia-smi that lists the GPUs whose nodes it may open),
// set through BERTH_TEST_GPU_ROOT, an internal setting. Real containers, through the API,
// the stock docker CLI and berth: the same request gives the same container both ways, only
// the requested GPUs are there, and they stay through restart, commit and a daemon restart.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  FAKE_DRIVER,
  FAKE_GPUS,
  fakeNvidiaCdiSpec,
  makeFakeHost,
} from '../../src/engine/gpu/testkit.ts'
import type { FakeHost } from '../../src/engine/gpu/testkit.ts'
import {
  apiRequest,
  berth,
  busyboxTar,
  docker,
  importBusybox,
  startBerthd,
  type Berthd,
  type RunResult,
} from './harness.ts'

const [G0, G1, G2] = FAKE_GPUS.map((g) => g.uuid) as [string, string, string]
const smi = (uuids: string[]) => uuids.map((u, i) => `GPU ${i}: Fake A100 40GB (UUID: ${u})`)
const NO_GPU = 'could not select device driver "" with capabilities: [[gpu]]'

/** What a test reads inside: nvidia-smi's list, the GPU nodes, NVIDIA's variables. */
const PROBE =
  'nvidia-smi -L; ls /dev | grep nvidia | sed "s/^/dev /"; env | grep ^NVIDIA_ | sort | sed "s/^/env /"'

let dir: string
let host: FakeHost
let d: Berthd
const gpuEnv = () => ({ BERTH_TEST_GPU_ROOT: host.root })

before(async () => {
  dir = await mkdtemp('/tmp/bt-gpu-')
  await mkdir(join(dir, 'host'))
  host = await makeFakeHost(join(dir, 'host'))
  d = await startBerthd({ env: gpuEnv() })
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`)
  return r.stdout
}

/** The parts of a container's OCI spec its GPUs decide, with its own ID and name taken out. */
async function gpuSpec(b: Berthd, id: string): Promise<unknown> {
  const text = await readFile(join(b.dataRoot, 'containers', id, 'bundle', 'config.json'), 'utf8')
  const spec = JSON.parse(text.replaceAll(id, 'ID').replaceAll(id.slice(0, 12), 'ID')) as {
    process: { env: string[]; user: unknown }
    mounts: unknown[]
    hooks?: unknown
    linux: { devices?: unknown[]; resources: { devices: unknown[] } }
  }
  return {
    devices: spec.linux.devices,
    rules: spec.linux.resources.devices,
    mounts: spec.mounts,
    env: spec.process.env,
    user: spec.process.user,
    hooks: spec.hooks,
  }
}

/** create then start -a with one CLI; the container's ID, its output and its exit code. */
async function runWith(
  cli: typeof docker,
  flags: string[],
): Promise<{ id: string; out: string[]; code: number }> {
  const created = await cli(['create', ...flags, 'busybox', 'sh', '-c', PROBE], { host: d })
  assert.equal(created.code, 0, `${flags.join(' ')}: ${created.stderr}`)
  const id = created.stdout.trim()
  const r = await cli(['start', '-a', id], { host: d })
  return { id, out: r.stdout.split('\n').filter((l) => l !== ''), code: r.code }
}

describe('--gpus and CDI names: the same container through docker and berth', () => {
  const cases: [string[], string[]][] = [
    [
      ['--gpus', 'all'],
      [G0, G1, G2],
    ],
    [
      ['--gpus', '2'],
      [G0, G1],
    ],
    [
      ['--gpus', '"device=0,2"'],
      [G0, G2],
    ],
    [['--gpus', `device=${G1}`], [G1]],
    [
      ['--gpus', 'all,"capabilities=compute,utility"'],
      [G0, G1, G2],
    ],
    [
      ['--device', 'nvidia.com/gpu=all'],
      [G0, G1, G2],
    ],
    [['--device', 'nvidia.com/gpu=0'], [G0]],
  ]
  for (const [flags, gpus] of cases) {
    test(flags.join(' '), async () => {
      const [viaDocker, viaBerth] = await Promise.all([
        runWith(docker, flags),
        runWith(berth, flags),
      ])
      // Inside: exactly the GPUs asked for (nvidia-smi opens only the nodes the cgroup allows).
      assert.equal(viaDocker.code, 0, viaDocker.out.join('\n'))
      assert.deepEqual(
        viaDocker.out.filter((l) => l.startsWith('GPU ')),
        smi(gpus),
      )
      assert.deepEqual(viaBerth.out, viaDocker.out)
      // The same request on the wire, and the same devices, mounts and variables in the spec.
      const requests = async (cli: typeof docker, id: string) =>
        ok(
          await cli(['inspect', '-f', '{{json .HostConfig.DeviceRequests}}', id], { host: d }),
          'inspect',
        )
      assert.equal(await requests(berth, viaBerth.id), await requests(docker, viaDocker.id))
      assert.deepEqual(await gpuSpec(d, viaBerth.id), await gpuSpec(d, viaDocker.id))
      ok(await docker(['rm', viaDocker.id, viaBerth.id], { host: d }), 'rm')
    })
  }

  test('--gpus "device=0,2" in detail: nodes, variables, read-only driver files', async () => {
    const r = await docker(
      [
        'run',
        '--rm',
        '--gpus',
        '"device=0,2"',
        'busybox',
        'sh',
        '-c',
        `${PROBE}; grep -q "FAKE libcuda ${FAKE_DRIVER}" /usr/lib64/libcuda.so.1 && echo driver-lib; ` +
          'echo x > /usr/lib64/libcuda.so.1 || echo read-only; mknod /dev/g0 c 195 0 && cat /dev/g0',
      ],
      { host: d },
    )
    // GPU 0 is minor 1 and GPU 2 minor 2 (bus order); minor 0 stays out, even made by hand.
    assert.deepEqual(
      r.stdout.split('\n').filter((l) => l !== ''),
      [
        ...smi([G0, G2]),
        'dev nvidia-uvm',
        'dev nvidia-uvm-tools',
        'dev nvidia1',
        'dev nvidia2',
        'dev nvidiactl',
        'env NVIDIA_VISIBLE_DEVICES=0,2',
        'driver-lib',
        'read-only',
      ],
    )
    assert.match(r.stderr, /cat: can't open '\/dev\/g0': Operation not permitted/)
  })
})

describe('through the API', () => {
  test('DeviceRequests in a create request: the nvidia driver by name, one GPU, utility only', async () => {
    const created = await apiRequest(d, 'POST', '/v1.45/containers/create', {
      Image: 'busybox',
      Cmd: ['sh', '-c', `${PROBE}; ls /usr/lib64`],
      HostConfig: {
        DeviceRequests: [
          { Driver: 'nvidia', Count: 1, Capabilities: [['gpu', 'utility']], Options: {} },
        ],
      },
    })
    assert.equal(created.status, 201, created.body)
    const id = (JSON.parse(created.body) as { Id: string }).Id
    assert.equal((await apiRequest(d, 'POST', `/v1.45/containers/${id}/start`)).status, 204)
    const waited = await apiRequest(d, 'POST', `/v1.45/containers/${id}/wait`)
    assert.deepEqual(JSON.parse(waited.body), { StatusCode: 0, Error: null })
    const out = ok(await docker(['logs', id], { host: d }), 'logs').split('\n')
    // utility: nvidia-smi and NVML, no CUDA and no UVM.
    assert.deepEqual(
      out.filter((l) => l !== ''),
      [
        ...smi([G0]),
        'dev nvidia1',
        'dev nvidiactl',
        'env NVIDIA_DRIVER_CAPABILITIES=utility',
        'env NVIDIA_VISIBLE_DEVICES=0',
        `libnvidia-ml.so.1`,
        `libnvidia-ml.so.${FAKE_DRIVER}`,
      ],
    )
    const inspect = await apiRequest(d, 'GET', `/v1.45/containers/${id}/json`)
    assert.deepEqual(
      (JSON.parse(inspect.body) as { HostConfig: { DeviceRequests: unknown } }).HostConfig
        .DeviceRequests,
      [
        {
          Driver: 'nvidia',
          Count: 1,
          DeviceIDs: null,
          Capabilities: [['gpu', 'utility']],
          Options: {},
        },
      ],
    )
    ok(await docker(['rm', id], { host: d }), 'rm')
  })

  test("a GPU the host has not got: the toolkit's words at create, nothing left", async () => {
    for (const cli of [docker, berth]) {
      const r = await cli(['run', '--rm', '--gpus', '"device=7"', 'busybox', 'true'], { host: d })
      assert.equal(r.code, 125)
      assert.match(r.stderr, /device error: 7: unknown device \(this host's GPUs: 0 \(GPU-3b/)
    }
    const bad = await apiRequest(d, 'POST', '/v1.45/containers/create', {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { DeviceRequests: [{ Count: 1, DeviceIDs: ['0'], Capabilities: [['gpu']] }] },
    })
    assert.equal(bad.status, 400)
    assert.match(bad.body, /cannot set both Count and DeviceIDs on device request/)
    assert.equal(ok(await docker(['ps', '-aq'], { host: d }), 'ps'), '')
  })
})

describe('info', () => {
  test('docker info and berth info list the GPUs and say discovery provides them', async () => {
    const di = ok(await docker(['info'], { host: d }), 'docker info')
    assert.match(
      di,
      / Discovered Devices:\n {2}discovery: nvidia.com\/gpu=all\n {2}discovery: nvidia.com\/gpu=0\n/,
    )
    const bi = ok(await berth(['info'], { host: d }), 'berth info')
    assert.match(bi, / GPUs: 3, found by discovery \(NVIDIA driver 550\.54\.14\)\n/)
    for (const line of smi([G0, G1, G2])) assert.ok(bi.includes(`  ${line}\n`), line)
    assert.match(bi, / {2}discovery: nvidia.com\/gpu=GPU-86000000/)
  })
})

describe('a GPU container through its life', () => {
  test('restart, a berthd restart, inspect, diff and commit keep its GPUs and their files apart', async () => {
    const run = ok(
      await berth(
        ['run', '-d', '--name', 'gpujob', '--gpus', 'device=1', 'busybox', 'sleep', '600'],
        {
          host: d,
        },
      ),
      'run',
    )
    const id = run.trim()
    const sees = async (what: string) =>
      assert.deepEqual(
        ok(await docker(['exec', 'gpujob', 'nvidia-smi', '-L'], { host: d }), what)
          .trim()
          .split('\n'),
        smi([G1]),
        what,
      )
    await sees('after run')
    ok(
      await docker(['exec', 'gpujob', 'sh', '-c', 'echo results > /root/model.txt'], { host: d }),
      'write',
    )
    // The driver files' mount points are not the container's changes; its own file is.
    assert.equal(
      ok(await docker(['diff', 'gpujob'], { host: d }), 'diff'),
      'C /root\nA /root/model.txt\n',
    )
    ok(await docker(['commit', 'gpujob', 'trained:1'], { host: d }), 'commit')
    const inImage = await docker(
      [
        'run',
        '--rm',
        'trained:1',
        'sh',
        '-c',
        'cat /root/model.txt; ls /usr/lib64 /usr/bin/nvidia-smi /lib/firmware',
      ],
      { host: d },
    )
    assert.equal(inImage.stdout, 'results\n')
    assert.equal(
      inImage.stderr,
      'ls: /usr/lib64: No such file or directory\nls: /usr/bin/nvidia-smi: No such file or directory\nls: /lib/firmware: No such file or directory\n',
    )
    // The committed image run with --gpus gets them again.
    const again = ok(
      await docker(['run', '--rm', '--gpus', '1', 'trained:1', 'nvidia-smi', '-L'], { host: d }),
      'gpus',
    )
    assert.deepEqual(again.trim().split('\n'), smi([G0]))

    ok(await docker(['restart', '-t', '0', 'gpujob'], { host: d }), 'restart')
    await sees('after restart')
    await d.restart()
    await sees('after a berthd restart')
    ok(
      await berth(['restart', '-t', '0', 'gpujob'], { host: d }),
      'restart after the berthd restart',
    )
    await sees('after restarting it under the new berthd')
    assert.equal(
      ok(
        await docker(['inspect', '-f', '{{json .HostConfig.DeviceRequests}}', id], { host: d }),
        'inspect',
      ).trim(),
      '[{"Driver":"","Count":0,"DeviceIDs":["1"],"Capabilities":[["gpu"]],"Options":{}}]',
    )
    ok(await docker(['rm', '-f', 'gpujob'], { host: d }), 'rm')
    ok(await docker(['rmi', 'trained:1'], { host: d }), 'rmi')
  })
})

describe('a CDI spec for nvidia.com/gpu', () => {
  const spec = () => join(host.root, 'etc/cdi/nvidia.yaml')
  before(async () => {
    await mkdir(join(host.root, 'etc/cdi'), { recursive: true })
    // The hook the spec names (nvidia-cdi-hook create-symlinks), done with node on the host.
    await writeFile(
      join(host.root, 'usr/bin/nvidia-cdi-hook'),
      `#!${process.execPath}
const fs = require('node:fs'), path = require('node:path')
const state = JSON.parse(fs.readFileSync(0, 'utf8'))
const spec = JSON.parse(fs.readFileSync(path.join(state.bundle, 'config.json'), 'utf8'))
const args = process.argv.slice(2)
const [target, link] = args[args.indexOf('--link') + 1].split('::')
const at = path.join(path.resolve(state.bundle, spec.root.path), link)
fs.mkdirSync(path.dirname(at), { recursive: true })
fs.symlinkSync(target, at)
`,
      { mode: 0o755 },
    )
    // Specs are read at each request: no daemon restart needed.
    await writeFile(spec(), fakeNvidiaCdiSpec(host))
  })
  after(async () => {
    await rm(spec(), { force: true })
  })

  test('--device nvidia.com/gpu=0 and --gpus go through the spec: its nodes, variables and hook', async () => {
    const script = `${PROBE}; readlink /usr/lib/x86_64-linux-gnu/libcuda.so`
    for (const [flags, gpus] of [
      [['--device', 'nvidia.com/gpu=0'], [G0]],
      [
        ['--gpus', 'all'],
        [G0, G1, G2],
      ],
    ] as const) {
      for (const cli of [docker, berth]) {
        const r = await cli(['run', '--rm', ...flags, 'busybox', 'sh', '-c', script], { host: d })
        assert.equal(r.code, 0, r.stderr)
        const lines = r.stdout.split('\n')
        assert.deepEqual(
          lines.filter((l) => l.startsWith('GPU ')),
          smi([...gpus]),
        )
        assert.ok(lines.includes('env NVIDIA_VISIBLE_DEVICES=void'), r.stdout)
        assert.ok(lines.includes('libcuda.so.1'), r.stdout)
      }
    }
  })

  test("an unknown device: CDI's words with what there is, exit 125, nothing left", async () => {
    for (const cli of [docker, berth]) {
      const r = await cli(['run', '--rm', '--device', 'nvidia.com/gpu=7', 'busybox', 'true'], {
        host: d,
      })
      assert.equal(r.code, 125)
      assert.match(
        r.stderr,
        /CDI device injection failed: unresolvable CDI devices nvidia.com\/gpu=7: no device "7" of kind "nvidia.com\/gpu"/,
      )
    }
    assert.equal(ok(await docker(['ps', '-aq'], { host: d }), 'ps'), '')
  })

  test('info says a CDI spec provides the GPUs', async () => {
    assert.match(ok(await berth(['info'], { host: d }), 'info'), / GPUs: 3, provided by a CDI spec/)
    assert.match(ok(await docker(['info'], { host: d }), 'info'), / {2}cdi: nvidia.com\/gpu=all\n/)
  })
})

describe('berthd --cdi-spec-dir: where CDI specs are read', () => {
  let e: Berthd
  before(async () => {
    // A spec in a directory of our own, and one for the same kind where berthd no longer looks.
    const spec = (from: string) =>
      `cdiVersion: 0.6.0\nkind: example.com/dev\ndevices:\n  - name: one\n    containerEdits:\n      env: [CDI_FROM=${from}]\n`
    await mkdir(join(host.root, 'opt/cdi'), { recursive: true })
    await writeFile(join(host.root, 'opt/cdi/example.yaml'), spec('opt'))
    await mkdir(join(host.root, 'etc/cdi'), { recursive: true })
    await writeFile(join(host.root, 'etc/cdi/example.yaml'), spec('etc'))
    e = await startBerthd({ env: gpuEnv(), args: ['--cdi-spec-dir', '/opt/cdi'] })
    await importBusybox(e)
  })
  after(async () => {
    await e?.stop()
    await rm(join(host.root, 'etc/cdi/example.yaml'), { force: true })
  })

  test('info shows the directory and its devices; a container gets the edits from there', async () => {
    const i = ok(await docker(['info'], { host: e }), 'info')
    assert.match(i, / CDI spec directories:\n {2}\/opt\/cdi\n/)
    assert.match(i, / {2}cdi: example.com\/dev=one\n/)
    const r = await docker(
      ['run', '--rm', '--device', 'example.com/dev=one', 'busybox', 'sh', '-c', 'echo $CDI_FROM'],
      { host: e },
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'opt\n')
  })
})

describe('berthd --gpus-from-env: what nvidia-docker did', () => {
  let e: Berthd
  before(async () => {
    e = await startBerthd({ env: gpuEnv(), args: ['--gpus-from-env'] })
    await importBusybox(e)
    // A CUDA-like image: NVIDIA's images set NVIDIA_VISIBLE_DEVICES (all) in their config.
    for (const b of [d, e]) {
      ok(
        await docker(
          ['import', '--change', 'ENV NVIDIA_VISIBLE_DEVICES=all', await busyboxTar(), 'cudaish'],
          { host: b },
        ),
        'import',
      )
    }
  })
  after(async () => {
    await e?.stop()
    ok(await docker(['rmi', 'cudaish'], { host: d }), 'rmi')
  })

  test("the tutorial's nvidia-docker line as a berth line: the image's GPUs without --gpus", async () => {
    const data = join(dir, 'data')
    await mkdir(data)
    await writeFile(join(data, 'notes.txt'), 'kept on the host\n')
    // nvidia-docker run --name=jupyter -it -v ~/data:/home -w /home -d jupyter_base
    const id = ok(
      await berth(
        [
          'run',
          '--name=jupyter',
          '-it',
          '-v',
          `${data}:/home`,
          '-w',
          '/home',
          '-d',
          'cudaish',
          'sh',
        ],
        { host: e },
      ),
      'run',
    ).trim()
    assert.match(id, /^[0-9a-f]{64}$/)
    const r = ok(
      await docker(['exec', 'jupyter', 'sh', '-c', 'nvidia-smi -L; cat notes.txt'], { host: e }),
      'exec',
    )
    assert.deepEqual(
      r.split('\n').filter((l) => l !== ''),
      [...smi([G0, G1, G2]), 'kept on the host'],
    )
    ok(await docker(['rm', '-f', 'jupyter'], { host: e }), 'rm')
  })

  test("--runtime=nvidia (nvidia-docker 2's way): that container gets its environment's GPUs", async () => {
    for (const cli of [docker, berth]) {
      const all = await cli(['run', '--rm', '--runtime=nvidia', 'cudaish', 'nvidia-smi', '-L'], {
        host: d,
      })
      assert.equal(all.stdout, smi([G0, G1, G2]).join('\n') + '\n', all.stderr)
      const one = await cli(
        ['run', '--rm', '--runtime', 'nvidia', '-e', 'NVIDIA_VISIBLE_DEVICES=2', 'busybox'].concat([
          'nvidia-smi',
          '-L',
        ]),
        { host: d },
      )
      assert.equal(one.stdout, smi([G2]).join('\n') + '\n', one.stderr)
      const bad = await cli(['run', '--rm', '--runtime', 'foo', 'busybox', 'true'], { host: d })
      assert.equal(bad.code, 125)
      assert.ok(
        bad.stderr.includes('Error response from daemon: unknown or invalid runtime name: foo'),
        bad.stderr,
      )
    }
    // docker prints the runtimes in Go's map order; berth sorts them.
    assert.match(
      ok(await docker(['info'], { host: d }), 'info'),
      / Runtimes: (nvidia runc|runc nvidia)\n/,
    )
    assert.match(ok(await berth(['info'], { host: d }), 'info'), / Runtimes: nvidia runc\n/)
  })

  test('-e NVIDIA_VISIBLE_DEVICES chooses; void and an image without it get none', async () => {
    const list = async (b: Berthd, args: string[]) => {
      const r = await docker(['run', '--rm', ...args, 'sh', '-c', 'nvidia-smi -L'], { host: b })
      return r.stdout + r.stderr
    }
    assert.equal(
      await list(e, ['-e', 'NVIDIA_VISIBLE_DEVICES=0,2', 'cudaish']),
      smi([G0, G2]).join('\n') + '\n',
    )
    assert.match(
      await list(e, ['-e', 'NVIDIA_VISIBLE_DEVICES=void', 'cudaish']),
      /nvidia-smi: not found/,
    )
    assert.match(await list(e, ['busybox']), /nvidia-smi: not found/)
    // Without the setting (the default), the image's variable gives nothing.
    assert.match(await list(d, ['cudaish']), /nvidia-smi: not found/)
  })
})

describe('a host without a GPU', () => {
  let bare: Berthd
  before(async () => {
    // The real host root: this machine has no NVIDIA driver and no CDI spec.
    bare = await startBerthd()
    await importBusybox(bare)
  })
  after(async () => {
    await bare?.stop()
  })

  test("--gpus is Docker's error with exit code 125 through both CLIs, and no container is left", async () => {
    for (const cli of [docker, berth]) {
      for (const flags of [
        ['--gpus', 'all'],
        ['--gpus', '1'],
      ]) {
        for (const verb of ['run', 'create']) {
          const r = await cli([verb, ...flags, 'busybox', 'true'], { host: bare })
          // run exits 125; the docker CLI's create exits 1 and berth's 125 (the CLIs' choice).
          if (verb === 'run') assert.equal(r.code, 125, `${verb} ${flags.join(' ')}`)
          else assert.notEqual(r.code, 0)
          assert.ok(r.stderr.includes(`Error response from daemon: ${NO_GPU}`), r.stderr)
        }
      }
    }
    const api = await apiRequest(bare, 'POST', '/v1.45/containers/create', {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { DeviceRequests: [{ Driver: '', Count: -1, Capabilities: [['gpu']] }] },
    })
    assert.equal(api.status, 400)
    assert.deepEqual(JSON.parse(api.body), { message: NO_GPU })
    // No GPU, no runtime "nvidia".
    const rt = await docker(['run', '--runtime=nvidia', 'busybox', 'true'], { host: bare })
    assert.equal(rt.code, 125)
    assert.ok(rt.stderr.includes('unknown or invalid runtime name: nvidia'), rt.stderr)
    assert.match(ok(await docker(['info'], { host: bare }), 'info'), / Runtimes: runc\n/)
    assert.equal(ok(await docker(['ps', '-aq'], { host: bare }), 'ps'), '')
    // No GPU line: berth info is docker info there.
    assert.doesNotMatch(ok(await berth(['info'], { host: bare }), 'info'), /GPUs/)
  })
})
