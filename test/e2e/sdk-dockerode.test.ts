// dockerode (pure JS, the SDK most Node tools use) against berthd, run the same way against
// Debian's dockerd: both must give the same answers, less the IDs and names each one picks.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import Docker from 'dockerode'
import { importBusybox, startBerthd, startDockerd, type Berthd, type Dockerd } from './harness.ts'

let berthd: Berthd
let dockerd: Dockerd

before(async () => {
  ;[berthd, dockerd] = await Promise.all([startBerthd(), startDockerd()])
  await Promise.all([importBusybox(berthd), importBusybox(dockerd)])
})

after(async () => {
  await Promise.all([berthd?.stop(), dockerd?.stop()])
})

/** Collects a multiplexed stream's stdout and stderr through dockerode's own demuxer. */
function demux(docker: Docker, stream: NodeJS.ReadableStream): Promise<[string, string]> {
  const out = new PassThrough()
  const err = new PassThrough()
  const o: Buffer[] = []
  const e: Buffer[] = []
  out.on('data', (c: Buffer) => o.push(c))
  err.on('data', (c: Buffer) => e.push(c))
  docker.modem.demuxStream(stream, out, err)
  return new Promise((resolve, reject) => {
    stream.on('error', reject)
    stream.on('end', () => resolve([Buffer.concat(o).toString(), Buffer.concat(e).toString()]))
  })
}

/** Splits a non-streamed logs answer (one buffer of 8-byte framed records) by stream. */
function frames(buf: Buffer): [string, string] {
  const parts: [string, string] = ['', '']
  for (let i = 0; i + 8 <= buf.length;) {
    const len = buf.readUInt32BE(i + 4)
    const text = buf.subarray(i + 8, i + 8 + len).toString()
    if (buf[i] === 2) parts[1] += text
    else parts[0] += text
    i += 8 + len
  }
  return parts
}

async function flow(socketPath: string): Promise<Record<string, unknown>> {
  const docker = new Docker({ socketPath })
  const s: Record<string, unknown> = {}

  const v = await docker.version()
  s.version = { Os: v.Os, Arch: v.Arch, hasApiVersion: typeof v.ApiVersion === 'string' }
  s.ping = String(await docker.ping())

  const images = await docker.listImages()
  s.imageTags = images.flatMap((i) => i.RepoTags ?? []).sort()
  const img = await docker.getImage('busybox').inspect()
  s.image = { idOk: /^sha256:[0-9a-f]{64}$/.test(img.Id), tags: img.RepoTags, os: img.Os }

  // docker run without -t: attach first, then start, then wait.
  const c = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
    AttachStdout: true,
    AttachStderr: true,
  })
  const attached = await c.attach({ stream: true, stdout: true, stderr: true })
  const output = demux(docker, attached)
  await c.start()
  s.wait = await c.wait()
  s.attach = await output
  s.logs = frames((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer)
  s.followed = await demux(
    docker,
    await c.logs({ follow: true, stdout: true, stderr: true, timestamps: false }),
  )
  const info = await c.inspect()
  s.inspect = {
    status: info.State.Status,
    exitCode: info.State.ExitCode,
    cmd: info.Config.Cmd,
    image: info.Config.Image,
    logType: info.HostConfig.LogConfig?.Type,
  }
  await c.remove()
  s.removed = (await docker.listContainers({ all: true })).some((x) => x.Id === c.id)

  // docker run -i: stdin through a hijacked attach, closed to end the container's cat.
  const cat = await docker.createContainer({
    Image: 'busybox',
    Cmd: ['cat'],
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
  })
  const duplex = await cat.attach({
    stream: true,
    hijack: true,
    stdin: true,
    stdout: true,
    stderr: true,
  })
  const catOut = demux(docker, duplex)
  await cat.start()
  duplex.write('hello stdin\n')
  ;(duplex as NodeJS.WritableStream).end()
  s.catWait = await cat.wait()
  s.catOut = await catOut
  await cat.remove()

  // dockerode's own run(): create with a TTY, attach, start, wait.
  const sink = new PassThrough()
  const sunk: Buffer[] = []
  sink.on('data', (b: Buffer) => sunk.push(b))
  const [res, ran] = (await docker.run('busybox', ['echo', 'via run'], sink)) as [
    { StatusCode: number },
    Docker.Container,
  ]
  s.run = { code: res.StatusCode, out: Buffer.concat(sunk).toString() }
  await ran.remove()

  // A running container: exec with hijack, stop, remove.
  const r = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '30'] })
  await r.start()
  s.running = (await r.inspect()).State.Running
  const ex = await r.exec({
    Cmd: ['sh', '-c', 'echo x; echo y >&2; exit 4'],
    AttachStdout: true,
    AttachStderr: true,
  })
  const exStream = await ex.start({ hijack: true, stdin: false })
  s.exec = await demux(docker, exStream)
  const exInfo = await ex.inspect()
  s.execInspect = { exitCode: exInfo.ExitCode, running: exInfo.Running }
  s.listedRunning = (await docker.listContainers()).some((x) => x.Id === r.id)
  await r.stop({ t: 1 })
  s.stopped = (await r.inspect()).State.Status
  await r.remove()

  const vol = await (await docker.createVolume({ Name: 'v1' })).inspect()
  s.volume = { name: vol.Name, driver: vol.Driver }
  s.volumes = ((await docker.listVolumes()).Volumes ?? []).map((x) => x.Name)
  await docker.getVolume('v1').remove()
  s.volumesAfter = ((await docker.listVolumes()).Volumes ?? []).map((x) => x.Name)

  await docker.getImage('busybox').tag({ repo: 'lab/node', tag: 'v1' })
  s.tagged = (await docker.getImage('lab/node:v1').inspect()).RepoTags?.sort()
  s.untag = await docker.getImage('lab/node:v1').remove()
  try {
    await docker.getContainer('nope').inspect()
    s.missing = 'found'
  } catch (e) {
    const err = e as { statusCode?: number; json?: { message?: string } }
    s.missing = { status: err.statusCode, message: err.json?.message }
  }
  return s
}

test('dockerode: images, run with attach, stdin, exec, stop, volumes, tag; same as dockerd', async () => {
  const got = await flow(berthd.socket)
  assert.deepEqual(got.version, { Os: 'linux', Arch: 'amd64', hasApiVersion: true })
  assert.equal(got.ping, 'OK')
  assert.deepEqual(got.imageTags, ['busybox:latest'])
  assert.deepEqual(got.image, { idOk: true, tags: ['busybox:latest'], os: 'linux' })
  assert.deepEqual(got.wait, { StatusCode: 3, Error: null })
  assert.deepEqual(got.attach, ['out\n', 'err\n'])
  assert.deepEqual(got.logs, ['out\n', 'err\n'])
  assert.deepEqual(got.followed, ['out\n', 'err\n'])
  // run() with one output stream asks for a TTY, whose line discipline sends CR LF.
  assert.deepEqual(got.run, { code: 0, out: 'via run\r\n' })
  assert.deepEqual(got.inspect, {
    status: 'exited',
    exitCode: 3,
    cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
    image: 'busybox',
    logType: 'json-file',
  })
  assert.equal(got.removed, false)
  assert.deepEqual(got.catWait, { StatusCode: 0, Error: null })
  assert.deepEqual(got.catOut, ['hello stdin\n', ''])
  assert.deepEqual(got.exec, ['x\n', 'y\n'])
  assert.deepEqual(got.execInspect, { exitCode: 4, running: false })
  assert.equal(got.running, true)
  assert.equal(got.listedRunning, true)
  assert.equal(got.stopped, 'exited')
  assert.deepEqual(got.volume, { name: 'v1', driver: 'local' })
  assert.deepEqual(got.volumes, ['v1'])
  assert.deepEqual(got.volumesAfter, [])
  assert.deepEqual(got.tagged, ['busybox:latest', 'lab/node:v1'])
  assert.deepEqual(got.untag, [{ Untagged: 'lab/node:v1' }])
  assert.deepEqual(got.missing, { status: 404, message: 'No such container: nope' })
  assert.deepEqual(got, await flow(dockerd.socket))
})
