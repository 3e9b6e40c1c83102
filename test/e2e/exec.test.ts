// exec, attach with a TTY, resize and detach keys through the Engine API, with real
// containers under berthd, and the stock docker CLI's exec exit codes.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net, { type Socket } from 'node:net'
import { apiRequest, docker, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

/** A hijacked connection: everything the daemon sent after the 101 response is in `data`. */
interface Conn {
  socket: Socket
  data: () => Buffer
  ended: Promise<void>
  /** Resolves once `pred(data)` holds; fails after ms. */
  until(pred: (b: Buffer) => boolean, ms?: number): Promise<Buffer>
}

function upgrade(path: string, body?: object): Promise<Conn> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'tcp' }
  if (payload) {
    headers['Content-Type'] = 'application/json'
    headers['Content-Length'] = String(payload.length)
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.socket, method: 'POST', path, headers })
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      assert.equal(res.statusCode, 101)
      let buf = head
      let wake: (() => void) | undefined
      socket.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c])
        wake?.()
      })
      const ended = new Promise<void>((r) => socket.on('close', () => (r(), wake?.())))
      const conn: Conn = {
        socket,
        data: () => buf,
        ended,
        async until(pred, ms = 10_000) {
          const deadline = Date.now() + ms
          while (!pred(buf)) {
            if (Date.now() > deadline || socket.destroyed) {
              throw new Error(`timed out; got ${JSON.stringify(buf.toString('latin1'))}`)
            }
            await new Promise<void>((r) => {
              wake = r
              setTimeout(r, 50)
            })
          }
          return buf
        },
      }
      resolve(conn)
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => reject(new Error(`${res.statusCode}: ${Buffer.concat(chunks)}`)))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

function demux(b: Buffer): { stdout: string; stderr: string } {
  let stdout = ''
  let stderr = ''
  for (let off = 0; off + 8 <= b.length;) {
    const size = b.readUInt32BE(off + 4)
    const text = b.subarray(off + 8, off + 8 + size).toString()
    if (b[off] === 1) stdout += text
    else if (b[off] === 2) stderr += text
    off += 8 + size
  }
  return { stdout, stderr }
}

async function runDetached(args: string[]): Promise<string> {
  const r = await docker(['run', '-d', ...args], { host: d })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.trim()
}

async function createExec(id: string, body: object): Promise<string> {
  const r = await apiRequest(d, 'POST', `/v1.45/containers/${id}/exec`, body)
  assert.equal(r.status, 201, r.body)
  return (JSON.parse(r.body) as { Id: string }).Id
}

async function inspectExec(id: string): Promise<Record<string, unknown>> {
  const r = await apiRequest(d, 'GET', `/v1.45/exec/${id}/json`)
  assert.equal(r.status, 200, r.body)
  return JSON.parse(r.body) as Record<string, unknown>
}

describe('exec through the API', () => {
  let cid: string
  before(async () => {
    cid = await runDetached(['busybox', 'sleep', '1000'])
  })

  test('attached: stdout and stderr framed apart, then the exit code in inspect', async () => {
    const id = await createExec(cid, {
      Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      AttachStdout: true,
      AttachStderr: true,
    })
    const before = await inspectExec(id)
    assert.equal(before.ExitCode, null)
    assert.equal(before.Running, false)
    const c = await upgrade(`/v1.45/exec/${id}/start`, { Detach: false, Tty: false })
    await c.ended
    assert.deepEqual(demux(c.data()), { stdout: 'out\n', stderr: 'err\n' })
    const info = await inspectExec(id)
    assert.equal(info.ExitCode, 3)
    assert.equal(info.Running, false)
    assert.equal(info.ContainerID, cid)
    assert.ok((info.Pid as number) > 0)
    assert.deepEqual(info.ProcessConfig, {
      tty: false,
      entrypoint: 'sh',
      arguments: ['-c', 'echo out; echo err >&2; exit 3'],
      privileged: false,
    })
    assert.equal(info.DetachKeys, '')
    const again = await apiRequest(d, 'POST', `/v1.45/exec/${id}/start`, { Detach: true })
    assert.equal(again.status, 409)
    assert.match(again.body, new RegExp(`exec command ${id} has already run`))
  })

  test('a missing command: the runtime error on the stream and 127', async () => {
    const id = await createExec(cid, { Cmd: ['nope'], AttachStdout: true, AttachStderr: true })
    const c = await upgrade(`/v1.45/exec/${id}/start`, { Tty: false })
    await c.ended
    assert.match(
      demux(c.data()).stdout,
      /^OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in \$PATH: unknown\r\n$/,
    )
    assert.equal((await inspectExec(id)).ExitCode, 127)
  })

  test('detached: 200 with no body; the process runs and its code is recorded', async () => {
    const id = await createExec(cid, {
      Cmd: ['sh', '-c', 'echo -n "$A" > /tmp/a; exit 4'],
      Env: ['A=from-exec'],
      DetachKeys: 'ctrl-a,b',
    })
    const r = await apiRequest(d, 'POST', `/v1.45/exec/${id}/start`, { Detach: true })
    assert.equal(r.status, 200)
    assert.equal(r.body, '')
    const deadline = Date.now() + 10_000
    let info = await inspectExec(id)
    while (info.ExitCode === null && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 20))
      info = await inspectExec(id)
    }
    assert.equal(info.ExitCode, 4)
    assert.equal(info.DetachKeys, 'AWI=')
    const cat = await docker(['exec', cid, 'cat', '/tmp/a'], { host: d })
    assert.equal(cat.stdout, 'from-exec')
  })

  test('errors in Docker words', async () => {
    const noCmd = await apiRequest(d, 'POST', `/v1.45/containers/${cid}/exec`, { Cmd: [] })
    assert.equal(noCmd.status, 400)
    assert.equal(JSON.parse(noCmd.body).message, 'No exec command specified')
    const keys = await apiRequest(d, 'POST', `/v1.45/containers/${cid}/exec`, {
      Cmd: ['true'],
      DetachKeys: 'foo',
    })
    assert.equal(keys.status, 400)
    assert.equal(JSON.parse(keys.body).message, 'Invalid escape keys (foo) provided')
    const missing = await apiRequest(d, 'GET', '/v1.45/exec/nope/json')
    assert.equal(missing.status, 404)
    assert.equal(JSON.parse(missing.body).message, 'No such exec instance: nope')
    const user = await apiRequest(d, 'POST', `/v1.45/containers/${cid}/exec`, {
      Cmd: ['true'],
      User: 'nobody-here',
    })
    assert.equal(user.status, 400, user.body)
    const created = await docker(['create', 'busybox', 'true'], { host: d })
    const stopped = created.stdout.trim()
    const r = await apiRequest(d, 'POST', `/v1.45/containers/${stopped}/exec`, { Cmd: ['true'] })
    assert.equal(r.status, 409)
    assert.equal(JSON.parse(r.body).message, `container ${stopped} is not running`)
  })

  test('execs are forgotten when their container stops', async () => {
    const c2 = await runDetached(['busybox', 'sleep', '1000'])
    const id = await createExec(c2, { Cmd: ['true'] })
    const stop = await docker(['stop', '-t', '0', c2], { host: d })
    assert.equal(stop.code, 0, stop.stderr)
    const r = await apiRequest(d, 'GET', `/v1.45/exec/${id}/json`)
    assert.equal(r.status, 404)
  })
})

/**
 * Starts an exec on a bare connection and sends `input` as its stdin, then half-closes, the way
 * `how` says: `after-101` as the docker CLI does (headers, then the body in a write of its own as
 * docker 28 sends it, then stdin once the 101 is read); `eager` with everything in one write
 * before any answer; `eager-split` with the body, stdin and the half-close right behind the
 * headers without waiting for the 101. Resolves with all the daemon sent once it closes.
 */
function rawExecStart(execId: string, input: string, how: string): Promise<string> {
  const body = '{"Detach":false,"Tty":false}'
  const head = [
    `POST /v1.45/exec/${execId}/start HTTP/1.1`,
    'Host: api',
    'Connection: Upgrade',
    'Upgrade: tcp',
    'Content-Type: application/json',
    `Content-Length: ${body.length}`,
    '',
    '',
  ].join('\r\n')
  return new Promise((resolve, reject) => {
    const sock = net.connect(d.socket)
    const chunks: Buffer[] = []
    let sent = false
    sock.on('data', (c: Buffer) => {
      chunks.push(c)
      if (how === 'after-101' && !sent && Buffer.concat(chunks).includes('\r\n\r\n')) {
        sent = true
        sock.end(input)
      }
    })
    // The daemon ends the stream once cat exits: a lost end of stdin shows as this timeout.
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`no end after 10 s: ${JSON.stringify(Buffer.concat(chunks).toString())}`))
    }, 10_000)
    sock.on('error', reject)
    sock.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('latin1'))
    })
    if (how === 'eager') {
      sock.end(head + body + input)
      return
    }
    sock.write(head)
    // A gap, so that the daemon reads the headers before the body arrives, as it does when
    // the body comes in a packet of its own: the case where stdin's end used to be lost.
    setTimeout(() => {
      if (how === 'eager-split') sock.end(body + input)
      else sock.write(body)
    }, 20)
  })
}

describe('exec -i: the end of stdin is never lost', () => {
  let cid: string
  before(async () => {
    cid = await runDetached(['busybox', 'sleep', '1000'])
  })

  for (const how of ['after-101', 'eager', 'eager-split']) {
    test(`a raw connection, stdin and its end sent ${how}, 10 times`, async () => {
      for (let i = 0; i < 10; i++) {
        const id = await createExec(cid, {
          AttachStdin: true,
          AttachStdout: true,
          AttachStderr: true,
          Cmd: ['cat'],
        })
        const input = `round ${i} `.repeat(50) + '\n'
        const all = await rawExecStart(id, input, how)
        assert.match(all, /^HTTP\/1\.1 101 UPGRADED\r\n/)
        const out = demux(Buffer.from(all.slice(all.indexOf('\r\n\r\n') + 4), 'latin1'))
        assert.equal(out.stdout, input, `round ${i}`)
        assert.equal((await inspectExec(id)).ExitCode, 0)
      }
    })
  }

  test('piped into docker run -i --rm and docker attach, 4 times each', async () => {
    for (let i = 0; i < 4; i++) {
      const input = `run ${i}\n`
      const run = await docker(['run', '-i', '--rm', 'busybox', 'cat'], {
        host: d,
        input,
        timeoutMs: 20_000,
      })
      assert.equal(run.code, 0, run.stderr)
      assert.equal(run.stdout, input)
      const c = await docker(['create', '-i', 'busybox', 'cat'], { host: d })
      assert.equal(c.code, 0, c.stderr)
      const id = c.stdout.trim()
      assert.equal((await docker(['start', id], { host: d })).code, 0)
      const att = await docker(['attach', id], { host: d, input, timeoutMs: 20_000 })
      assert.equal(att.code, 0, att.stderr)
      assert.equal(att.stdout, input)
      await docker(['rm', '-f', id], { host: d })
    }
  })

  test('echo | docker exec -i C cat, 12 times, 3 at once', async () => {
    for (let i = 0; i < 4; i++) {
      await Promise.all(
        [0, 1, 2].map(async (j) => {
          const input = `line ${i}.${j}\n`
          const r = await docker(['exec', '-i', cid, 'cat'], { host: d, input, timeoutMs: 20_000 })
          assert.equal(r.code, 0, r.stderr)
          assert.equal(r.stdout, input)
        }),
      )
    }
  })
})

describe('exec with the stock docker CLI', () => {
  let cid: string
  before(async () => {
    cid = await runDetached(['busybox', 'sleep', '1000'])
  })

  test('exit codes: the process, 127 not found, 126 not executable', async () => {
    const ok = await docker(['exec', cid, 'sh', '-c', 'echo hi; exit 7'], { host: d })
    assert.equal(ok.code, 7)
    assert.equal(ok.stdout, 'hi\n')
    const nf = await docker(['exec', cid, 'nope'], { host: d })
    assert.equal(nf.code, 127)
    // moby writes the error into the attached stream: the CLI prints it on stdout.
    assert.match(nf.stdout, /executable file not found in \$PATH/)
    const dir = await docker(['exec', cid, '/etc'], { host: d })
    assert.equal(dir.code, 126)
    assert.match(dir.stdout, /permission denied/)
  })

  test('-e, -w, -u, -i and --privileged', async () => {
    const env = await docker(
      [
        'exec',
        '-e',
        'X=1',
        '-w',
        '/tmp',
        '-u',
        '65534',
        cid,
        'sh',
        '-c',
        'echo $X $(pwd) $(id -u)',
      ],
      {
        host: d,
      },
    )
    assert.equal(env.stdout, '1 /tmp 65534\n', env.stderr)
    const stdin = await docker(['exec', '-i', cid, 'cat'], { host: d, input: 'piped\n' })
    assert.equal(stdin.stdout, 'piped\n', stdin.stderr)
    const caps = await docker(
      ['exec', '--privileged', cid, 'grep', 'CapEff', '/proc/self/status'],
      {
        host: d,
      },
    )
    const plain = await docker(['exec', cid, 'grep', 'CapEff', '/proc/self/status'], { host: d })
    assert.notEqual(caps.stdout, plain.stdout)
  })

  test('a tty exec gives a raw stream with CRLF', async () => {
    const r = await docker(['exec', '-t', cid, 'echo', 'hi'], { host: d })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'hi\r\n')
  })
})

describe('TTY containers: raw attach, resize, detach keys', () => {
  test('stty size follows resize; ctrl-p ctrl-q ends the stream and the container runs on', async () => {
    const created = await apiRequest(d, 'POST', '/v1.45/containers/create', {
      Image: 'busybox',
      Cmd: ['sh'],
      Tty: true,
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: { ConsoleSize: [21, 61] },
    })
    assert.equal(created.status, 201, created.body)
    const id = (JSON.parse(created.body) as { Id: string }).Id
    const q = 'stream=1&stdin=1&stdout=1&stderr=1'
    const c = await upgrade(`/v1.45/containers/${id}/attach?${q}`)
    assert.equal((await apiRequest(d, 'POST', `/v1.45/containers/${id}/start`)).status, 204)
    c.socket.write('stty size\n')
    // The size given at create, and a raw stream: no 8-byte frame headers.
    await c.until((b) => b.includes('21 61'))
    assert.ok(c.data().toString().includes('/ # '), JSON.stringify(c.data().toString()))
    assert.notEqual(c.data()[1], 0, 'no stdcopy frame header')
    const rs = await apiRequest(d, 'POST', `/v1.45/containers/${id}/resize?h=33&w=77`)
    assert.equal(rs.status, 200, rs.body)
    c.socket.write('stty size\n')
    await c.until((b) => b.includes('33 77'))
    c.socket.write('\x10\x11')
    await c.ended
    const st = JSON.parse((await apiRequest(d, 'GET', `/v1.45/containers/${id}/json`)).body)
    assert.equal(st.State.Running, true)

    const bad = await apiRequest(d, 'POST', `/v1.45/containers/${id}/attach?${q}&detachKeys=foo`)
    assert.equal(bad.status, 400)
    assert.equal(JSON.parse(bad.body).message, 'Invalid detach keys (foo) provided')

    // Custom keys; a broken partial match is forwarded; the input the first client left open
    // still reaches the shell.
    const c2 = await upgrade(`/v1.45/containers/${id}/attach?${q}&detachKeys=q,z`)
    c2.socket.write('echo qqa\n')
    await c2.until((b) => b.includes('qqa\r\n'))
    c2.socket.write('qz')
    await c2.ended

    const c3 = await upgrade(`/v1.45/containers/${id}/attach?${q}`)
    c3.socket.write('exit 0\n')
    await c3.ended
    const w = await apiRequest(d, 'POST', `/v1.45/containers/${id}/wait`)
    assert.equal(JSON.parse(w.body).StatusCode, 0)
  })

  test('exec -t: ConsoleSize at start, then /exec/{id}/resize', async () => {
    const cid = await runDetached(['busybox', 'sleep', '1000'])
    const id = await createExec(cid, {
      Cmd: ['sh'],
      Tty: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    })
    const c = await upgrade(`/v1.45/exec/${id}/start`, { Tty: true, ConsoleSize: [12, 34] })
    c.socket.write('stty size\n')
    await c.until((b) => b.includes('12 34'))
    const rs = await apiRequest(d, 'POST', `/v1.45/exec/${id}/resize?h=11&w=22`)
    assert.equal(rs.status, 200, rs.body)
    c.socket.write('stty size\n')
    await c.until((b) => b.includes('11 22'))
    c.socket.write('exit 9\n')
    await c.ended
    assert.equal((await inspectExec(id)).ExitCode, 9)
    const bad = await apiRequest(d, 'POST', `/v1.45/exec/${id}/resize?h=x&w=1`)
    assert.equal(bad.status, 400)
  })
})
