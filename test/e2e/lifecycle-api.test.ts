// The lifecycle verbs through the Engine API with real containers: pause/unpause (the cgroup
// freezer), kill and stop exit codes, restart, rename, top, stats, update, prune and events.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import { apiRequest, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

async function api(method: string, path: string, body?: object) {
  return apiRequest(d, method, path, body)
}

async function run(cmd: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const c = await api('POST', '/containers/create', { Image: 'busybox', Cmd: cmd, ...extra })
  assert.equal(c.status, 201, c.body)
  const id = (JSON.parse(c.body) as { Id: string }).Id
  const s = await api('POST', `/containers/${id}/start`)
  assert.equal(s.status, 204, s.body)
  return id
}

async function state(id: string): Promise<Record<string, unknown>> {
  const r = await api('GET', `/containers/${id}/json`)
  assert.equal(r.status, 200, r.body)
  return (JSON.parse(r.body) as { State: Record<string, unknown> }).State
}

async function waitExit(id: string): Promise<number> {
  const r = await api('POST', `/containers/${id}/wait`)
  return (JSON.parse(r.body) as { StatusCode: number }).StatusCode
}

async function cgroupFile(id: string, controller: string, file: string): Promise<string> {
  return (await readFile(`/sys/fs/cgroup/${controller}/berth/${id}/${file}`, 'utf8')).trim()
}

const message = (body: string): string => (JSON.parse(body) as { message: string }).message

describe('pause and unpause', () => {
  test('freeze the cgroup and answer in Docker words', async () => {
    const id = await run(['sleep', '1000'])
    assert.equal((await api('POST', `/containers/${id}/pause`)).status, 204)
    assert.equal(await cgroupFile(id, 'freezer', 'freezer.state'), 'FROZEN')
    const st = await state(id)
    assert.equal(st.Status, 'paused')
    assert.equal(st.Paused, true)
    assert.equal(st.Running, true)
    const again = await api('POST', `/containers/${id}/pause`)
    assert.equal(again.status, 409)
    assert.equal(message(again.body), `Container ${id} is already paused`)
    const list = await api('GET', '/containers/json?filters={"status":["paused"]}')
    assert.match(JSON.parse(list.body)[0].Status, /^Up .* \(Paused\)$/)

    assert.equal((await api('POST', `/containers/${id}/unpause`)).status, 204)
    assert.equal(await cgroupFile(id, 'freezer', 'freezer.state'), 'THAWED')
    assert.equal((await state(id)).Status, 'running')
    const notPaused = await api('POST', `/containers/${id}/unpause`)
    assert.equal(notPaused.status, 409)
    assert.equal(message(notPaused.body), `Container ${id} is not paused`)

    // A kill reaches a paused container: dockerd thaws it after signalling.
    assert.equal((await api('POST', `/containers/${id}/pause`)).status, 204)
    assert.equal((await api('POST', `/containers/${id}/kill`)).status, 204)
    assert.equal(await waitExit(id), 137)
    const stopped = await api('POST', `/containers/${id}/pause`)
    assert.equal(stopped.status, 409)
    assert.equal(message(stopped.body), `Container ${id} is not running`)
  })
})

describe('kill and stop', () => {
  test('kill -s by name and number; a trapped signal sets the exit code', async () => {
    const id = await run(['sh', '-c', 'trap "exit 7" USR1; while true; do sleep 0.1; done'])
    const bad = await api('POST', `/containers/${id}/kill?signal=FOO`)
    assert.equal(bad.status, 400)
    assert.equal(message(bad.body), 'Invalid signal: FOO')
    assert.equal((await api('POST', `/containers/${id}/kill?signal=10`)).status, 204)
    assert.equal(await waitExit(id), 7)
    const gone = await api('POST', `/containers/${id}/kill`)
    assert.equal(gone.status, 409)
    assert.equal(message(gone.body), `Cannot kill container: ${id}: Container ${id} is not running`)
  })

  test('stop: pid 1 ignores TERM, so KILL after the timeout gives 137; 304 once stopped', async () => {
    const id = await run(['sleep', '1000'])
    const t0 = Date.now()
    assert.equal((await api('POST', `/containers/${id}/stop?t=1`)).status, 204)
    assert.ok(Date.now() - t0 >= 900, 'waited for the timeout')
    assert.equal((await state(id)).ExitCode, 137)
    assert.equal((await api('POST', `/containers/${id}/stop`)).status, 304)
  })

  test('stop under --init: TERM kills the process and the exit code is 143', async () => {
    const id = await run(['sleep', '1000'], { HostConfig: { Init: true } })
    assert.equal((await api('POST', `/containers/${id}/stop?t=5`)).status, 204)
    assert.equal((await state(id)).ExitCode, 143)
  })
})

describe('restart and rename', () => {
  test('restart runs the container again without counting a restart', async () => {
    const id = await run(['sleep', '1000'])
    const before = (await state(id)).Pid
    assert.equal((await api('POST', `/containers/${id}/restart?t=0`)).status, 204)
    const st = await state(id)
    assert.equal(st.Running, true)
    assert.notEqual(st.Pid, before)
    const info = JSON.parse((await api('GET', `/containers/${id}/json`)).body)
    assert.equal(info.RestartCount, 0)
    await api('DELETE', `/containers/${id}?force=1`)
  })

  test('rename keeps it running; Docker words for a taken, same or empty name', async () => {
    const a = await run(['sleep', '1000'])
    const b = await api('POST', '/containers/create?name=taken', {
      Image: 'busybox',
      Cmd: ['true'],
    })
    const bid = (JSON.parse(b.body) as { Id: string }).Id
    assert.equal((await api('POST', `/containers/${a}/rename?name=first`)).status, 204)
    const info = JSON.parse((await api('GET', '/containers/first/json')).body)
    assert.equal(info.Name, '/first')
    assert.equal(info.State.Running, true)
    const taken = await api('POST', '/containers/first/rename?name=taken')
    assert.equal(taken.status, 409)
    assert.equal(
      message(taken.body),
      `Error when allocating new name: Conflict. The container name "/taken" is already in use by container "${bid}". You have to remove (or rename) that container to be able to reuse that name.`,
    )
    const same = await api('POST', '/containers/first/rename?name=first')
    assert.equal(same.status, 400)
    assert.equal(message(same.body), 'Renaming a container with the same name as its current name')
    const empty = await api('POST', '/containers/first/rename?name=')
    assert.equal(empty.status, 400)
    assert.equal(message(empty.body), 'Neither old nor new names may be empty')
    const bad = await api('POST', '/containers/first/rename?name=a%20b')
    assert.equal(bad.status, 400)
    assert.match(
      message(bad.body),
      /^Error when allocating new name: Invalid container name \(\/a b\)/,
    )
    // The old name is free again.
    const reuse = await api('POST', `/containers/${bid}/rename?name=${a.slice(0, 0)}first2`)
    assert.equal(reuse.status, 204)
    await api('DELETE', `/containers/${a}?force=1`)
    await api('DELETE', `/containers/${bid}`)
  })
})

describe('top, stats and update', () => {
  test('top lists the container processes with ps titles', async () => {
    const id = await run(['sleep', '1000'])
    const r = await api('GET', `/containers/${id}/top`)
    assert.equal(r.status, 200, r.body)
    const t = JSON.parse(r.body) as { Titles: string[]; Processes: string[][] }
    assert.deepEqual(t.Titles.slice(0, 3), ['UID', 'PID', 'PPID'])
    assert.equal(t.Processes.length, 1)
    assert.equal(t.Processes[0]!.at(-1), 'sleep 1000')
    const custom = JSON.parse(
      (await api('GET', `/containers/${id}/top?ps_args=-o%20pid,comm`)).body,
    )
    assert.deepEqual(custom.Titles, ['PID', 'COMMAND'])
    assert.equal(custom.Processes[0][1], 'sleep')
    const refused = await api('GET', `/containers/${id}/top?ps_args=-o%20user=PID`)
    assert.equal(refused.status, 400)
    await api('DELETE', `/containers/${id}?force=1`)
    const c = await api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] })
    const cid = (JSON.parse(c.body) as { Id: string }).Id
    const stopped = await api('GET', `/containers/${cid}/top`)
    assert.equal(stopped.status, 409)
    assert.equal(message(stopped.body), `Container ${cid} is not running`)
    await api('DELETE', `/containers/${cid}`)
  })

  test('stats: one-shot, a two-sample answer, and a stream every second', async () => {
    const id = await run(['sleep', '1000'])
    const one = JSON.parse(
      (await api('GET', `/containers/${id}/stats?stream=false&one-shot=true`)).body,
    )
    assert.equal(one.id, id)
    assert.ok(one.memory_stats.usage > 0)
    assert.ok(one.memory_stats.limit > 0)
    assert.equal(one.pids_stats.current, 1)
    assert.ok(one.cpu_stats.cpu_usage.total_usage > 0)
    assert.ok(one.cpu_stats.system_cpu_usage > 0)
    assert.ok(one.cpu_stats.online_cpus >= 1)
    assert.equal(one.precpu_stats.system_cpu_usage, undefined)
    // On the default bridge, the container's eth0 counters, as dockerd reports them.
    assert.deepEqual(Object.keys(one.networks), ['eth0'])
    assert.ok(one.networks.eth0.rx_packets >= 0 && one.networks.eth0.tx_bytes >= 0)
    assert.ok(Array.isArray(one.blkio_stats.io_service_bytes_recursive))

    const two = JSON.parse((await api('GET', `/containers/${id}/stats?stream=false`)).body)
    assert.ok(two.precpu_stats.system_cpu_usage > 0)
    assert.ok(two.cpu_stats.system_cpu_usage > two.precpu_stats.system_cpu_usage)
    assert.notEqual(two.preread, '0001-01-01T00:00:00Z')

    const both = await api('GET', `/containers/${id}/stats?stream=true&one-shot=true`)
    assert.equal(both.status, 400)

    // Streaming: two lines arrive about a second apart.
    const lines = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = []
      const req = http.get({ socketPath: d.socket, path: `/containers/${id}/stats` }, (res) => {
        let buf = ''
        res.on('data', (c: Buffer) => {
          buf += c.toString()
          const parts = buf.split('\n')
          buf = parts.pop() ?? ''
          got.push(...parts.filter((p) => p !== ''))
          if (got.length >= 2) {
            req.destroy()
            resolve(got)
          }
        })
      })
      req.on('error', reject)
    })
    assert.equal(JSON.parse(lines[1]!).precpu_stats.cpu_usage.total_usage > 0, true)
    await api('DELETE', `/containers/${id}?force=1`)
  })

  test('update applies memory, cpus and pids to the running cgroup and keeps them', async () => {
    const id = await run(['sleep', '1000'])
    const r = await api('POST', `/containers/${id}/update`, {
      Memory: 64 * 1024 * 1024,
      NanoCpus: 500_000_000,
      PidsLimit: 30,
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 },
    })
    assert.equal(r.status, 200, r.body)
    assert.deepEqual(JSON.parse(r.body), { Warnings: null })
    assert.equal(await cgroupFile(id, 'memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024))
    assert.equal(await cgroupFile(id, 'cpu', 'cpu.cfs_quota_us'), '50000')
    assert.equal(await cgroupFile(id, 'pids', 'pids.max'), '30')
    const hc = JSON.parse((await api('GET', `/containers/${id}/json`)).body).HostConfig
    assert.equal(hc.Memory, 64 * 1024 * 1024)
    assert.equal(hc.NanoCpus, 500_000_000)
    assert.equal(hc.PidsLimit, 30)
    assert.deepEqual(hc.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 })
    const small = await api('POST', `/containers/${id}/update`, { Memory: 1 })
    assert.equal(small.status, 400)
    assert.equal(message(small.body), 'Minimum memory limit allowed is 6MB')
    const conflict = await api('POST', `/containers/${id}/update`, { CpuQuota: 1000 })
    assert.equal(conflict.status, 409)
    assert.equal(
      message(conflict.body),
      `Cannot update container ${id}: Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set`,
    )
    // The record survives a daemon restart.
    await d.restart()
    const after = JSON.parse((await api('GET', `/containers/${id}/json`)).body).HostConfig
    assert.equal(after.Memory, 64 * 1024 * 1024)
    await api('DELETE', `/containers/${id}?force=1`)
  })
})

describe('prune and events', () => {
  test('prune removes stopped containers matching the filters, then reports them', async () => {
    const keep = await api('POST', '/containers/create', {
      Image: 'busybox',
      Cmd: ['true'],
      Labels: { keep: '1' },
    })
    const keepId = (JSON.parse(keep.body) as { Id: string }).Id
    const drop = await api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] })
    const dropId = (JSON.parse(drop.body) as { Id: string }).Id
    const running = await run(['sleep', '1000'])
    const bad = await api('POST', '/containers/prune?filters={"nope":["x"]}')
    assert.equal(bad.status, 400)
    const r = await api('POST', '/containers/prune?filters={"label!":["keep"]}')
    assert.equal(r.status, 200, r.body)
    const rep = JSON.parse(r.body) as { ContainersDeleted: string[]; SpaceReclaimed: number }
    assert.ok(rep.ContainersDeleted.includes(dropId))
    assert.ok(!rep.ContainersDeleted.includes(keepId))
    assert.ok(!rep.ContainersDeleted.includes(running))
    assert.equal(typeof rep.SpaceReclaimed, 'number')
    const none = JSON.parse((await api('POST', '/containers/prune?filters={"until":["1h"]}')).body)
    assert.deepEqual(none, { ContainersDeleted: null, SpaceReclaimed: 0 })
    await api('DELETE', `/containers/${running}?force=1`)
    await api('DELETE', `/containers/${keepId}`)
  })

  test('events replay with since/until and filter by container, type and event', async () => {
    const since = (Date.now() / 1000).toFixed(3)
    const id = await run(['sleep', '1000'], { Labels: { team: 'a' } })
    await api('POST', `/containers/${id}/pause`)
    await api('POST', `/containers/${id}/unpause`)
    await api('POST', `/containers/${id}/kill`)
    await waitExit(id)
    await api('DELETE', `/containers/${id}`)
    await api('POST', '/images/busybox/tag?repo=evt&tag=x')
    await api('DELETE', '/images/evt:x')
    const until = (Date.now() / 1000 + 0.001).toFixed(3)
    const q = (filters: object) =>
      api(
        'GET',
        `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify(filters))}`,
      )
    const r = await q({ container: [id.slice(0, 12)] })
    assert.equal(r.status, 200)
    const evs = r.body
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as Record<string, unknown> & {
            Actor: { Attributes: Record<string, string> }
          },
      )
    assert.deepEqual(
      evs.map((e) => e.Action),
      ['create', 'start', 'pause', 'unpause', 'kill', 'die', 'destroy'],
    )
    const die = evs.find((e) => e.Action === 'die')!
    assert.equal(die.Actor.Attributes.exitCode, '137')
    assert.equal(die.Actor.Attributes.team, 'a')
    assert.equal(die.Actor.Attributes.image, 'busybox')
    assert.equal(die.status, 'die')
    assert.equal(die.from, 'busybox')
    assert.equal(die.scope, 'local')
    assert.match(r.body, /"timeNano":\d{19}}/)
    const kill = evs.find((e) => e.Action === 'kill')!
    assert.equal(kill.Actor.Attributes.signal, '9')

    const images = (await q({ type: ['image'] })).body.trim().split('\n')
    assert.deepEqual(
      images.map((l) => JSON.parse(l).Action),
      ['tag', 'untag'],
    )
    const only = (await q({ event: ['pause'], label: ['team=a'] })).body.trim().split('\n')
    assert.equal(only.length, 1)
  })

  test('a live events stream sends events as they happen', async () => {
    const got = new Promise<string>((resolve, reject) => {
      const req = http.get(
        {
          socketPath: d.socket,
          path: `/events?filters=${encodeURIComponent('{"event":["create"]}')}`,
        },
        (res) => {
          res.once('data', (c: Buffer) => {
            req.destroy()
            resolve(c.toString())
          })
        },
      )
      req.on('error', reject)
      req.on('response', () => {
        void api('POST', '/containers/create?name=live', { Image: 'busybox', Cmd: ['true'] })
      })
    })
    const line = JSON.parse(await got)
    assert.equal(line.Action, 'create')
    assert.equal(line.Actor.Attributes.name, 'live')
    await api('DELETE', '/containers/live')
  })
})
