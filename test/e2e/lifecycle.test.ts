// The stock docker CLI against berthd through a container's whole life: pause, top, stats,
// rename, restart, stop, kill, events, update and prune; and the same verbs through berth.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { berth, docker, dockerOk, importBusybox, startBerthd, type Berthd } from './harness.ts'

let d: Berthd

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
})

const host = (): { host: Berthd } => ({ host: d })

function ok(args: string[]): Promise<string> {
  return dockerOk(args, host())
}

describe('docker CLI', () => {
  test('run -d, pause, top, stats, rename, restart, stop, kill, events, prune', async () => {
    const since = String(Math.floor(Date.now() / 1000))
    const id = (await ok(['run', '-d', '--name', 'life', 'busybox', 'sleep', '1000'])).trim()
    assert.match(id, /^[0-9a-f]{64}$/)

    assert.equal(await ok(['pause', 'life']), 'life\n')
    assert.match(await ok(['ps', '--format', '{{.Names}} {{.Status}}']), /^life Up .* \(Paused\)$/m)
    const again = await docker(['pause', 'life'], host())
    assert.equal(again.code, 1)
    assert.match(again.stderr, new RegExp(`Container ${id} is already paused`))
    assert.equal(await ok(['unpause', 'life']), 'life\n')
    assert.match(await ok(['ps', '--format', '{{.Status}}']), /^Up /)

    const top = await ok(['top', 'life'])
    assert.match(top, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n/)
    assert.match(top, /sleep 1000\n$/)

    const stats = await ok(['stats', '--no-stream'])
    const lines = stats.trim().split('\n')
    assert.match(
      lines[0] ?? '',
      /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/,
    )
    assert.match(
      lines[1] ?? '',
      new RegExp(
        `^${id.slice(0, 12)}\\s+life\\s+\\d+\\.\\d\\d%\\s+[\\d.]+[KMG]?i?B / [\\d.]+[KMGT]iB\\s+\\d+\\.\\d\\d%\\s+\\S+ / \\S+\\s+\\S+ / \\S+\\s+1$`,
      ),
    )

    assert.equal((await docker(['rename', 'life', 'life2'], host())).code, 0)
    assert.match(await ok(['ps', '--format', '{{.Names}}']), /^life2$/m)

    assert.equal(await ok(['restart', '-t', '1', 'life2']), 'life2\n')
    assert.equal(
      (await ok(['inspect', '-f', '{{.State.Running}} {{.RestartCount}}', 'life2'])).trim(),
      'true 0',
    )

    // sleep as pid 1 ignores TERM: stop waits out the timeout, then SIGKILL gives 137.
    assert.equal(await ok(['stop', '-t', '1', 'life2']), 'life2\n')
    assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', 'life2'])).trim(), '137')
    assert.equal(await ok(['stop', 'life2']), 'life2\n')
    assert.equal((await ok(['wait', 'life2'])).trim(), '137')

    await ok(['start', 'life2'])
    const bad = await docker(['kill', '-s', 'NOPE', 'life2'], host())
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /Invalid signal: NOPE/)
    assert.equal(await ok(['kill', '-s', 'SIGKILL', 'life2']), 'life2\n')
    assert.equal((await ok(['wait', 'life2'])).trim(), '137')

    const until = String(Math.floor(Date.now() / 1000) + 1)
    const events = await ok([
      'events',
      '--since',
      since,
      '--until',
      until,
      '--filter',
      `container=${id}`,
      '--format',
      '{{.Action}}',
    ])
    const actions = events.trim().split('\n')
    for (const want of [
      'create',
      'start',
      'pause',
      'unpause',
      'top',
      'rename',
      'kill',
      'die',
      'stop',
      'restart',
    ]) {
      assert.ok(actions.includes(want), `${want} in ${actions.join(',')}`)
    }
    assert.ok(actions.indexOf('pause') < actions.indexOf('unpause'))
    assert.ok(actions.indexOf('rename') < actions.indexOf('restart'))
    const plain = await ok([
      'events',
      '--since',
      since,
      '--until',
      until,
      '--filter',
      'event=rename',
    ])
    assert.match(
      plain,
      new RegExp(`container rename ${id} \\(image=busybox, name=life2, oldName=/life\\)\\n$`),
    )

    const prune = await ok(['container', 'prune', '-f'])
    assert.match(prune, new RegExp(`^Deleted Containers:\\n${id}\\n\\nTotal reclaimed space: `))
    assert.equal((await docker(['inspect', id], host())).code, 1)
  })

  test('stop under --init exits 143; update --memory changes the cgroup limit', async () => {
    const id = (await ok(['run', '-d', '--init', 'busybox', 'sleep', '1000'])).trim()
    assert.equal(await ok(['update', '--memory', '64m', '--cpus', '0.5', id]), `${id}\n`)
    const limit = await readFile(`/sys/fs/cgroup/memory/berth/${id}/memory.limit_in_bytes`, 'utf8')
    assert.equal(limit.trim(), String(64 * 1024 * 1024))
    assert.equal(
      (await ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}', id])).trim(),
      `${64 * 1024 * 1024} 500000000`,
    )
    await ok(['stop', id])
    assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', id])).trim(), '143')
    await ok(['rm', id])
  })
})

describe('berth CLI', () => {
  test('pause, top, stats, rename, update, restart, stop, events and prune', async () => {
    const b = async (args: string[]): Promise<string> => {
      const r = await berth(args, host())
      assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`)
      return r.stdout
    }
    const since = String(Math.floor(Date.now() / 1000))
    const id = (await b(['run', '-d', '--name', 'bl', 'busybox', 'sleep', '1000'])).trim()
    assert.equal(await b(['pause', 'bl']), 'bl\n')
    assert.match(await b(['ps', '--format', '{{.Status}}']), /\(Paused\)/)
    assert.equal(await b(['container', 'unpause', 'bl']), 'bl\n')
    assert.match(await b(['top', 'bl', '-o', 'pid,comm']), /^PID\s+COMMAND\n\d+\s+sleep\n$/)
    const stats = await b([
      'stats',
      '--no-stream',
      '--format',
      '{{.Name}} {{.PIDs}} {{.NetIO}}',
      'bl',
    ])
    // NET I/O counts eth0 on the default bridge (neighbour discovery at least), as docker's does.
    assert.match(stats, /^bl 1 [\d.]+[kMG]?B \/ [\d.]+[kMG]?B\n$/)
    await b(['rename', 'bl', 'bl2'])
    const same = await berth(['rename', 'bl2', 'bl2'], host())
    assert.equal(same.code, 1)
    assert.match(same.stderr, /Renaming a container with the same name as its current name/)
    assert.equal(await b(['update', '--pids-limit', '20', 'bl2']), 'bl2\n')
    const pidsMax = await readFile(`/sys/fs/cgroup/pids/berth/${id}/pids.max`, 'utf8')
    assert.equal(pidsMax.trim(), '20')
    assert.equal(await b(['restart', '-t', '0', 'bl2']), 'bl2\n')
    assert.equal(await b(['stop', '-t', '0', 'bl2']), 'bl2\n')
    assert.equal((await b(['wait', 'bl2'])).trim(), '137')
    const until = String(Math.floor(Date.now() / 1000) + 1)
    const ev = await b(['events', '--since', since, '--until', until, '--filter', 'event=pause'])
    assert.match(ev, new RegExp(`^\\S+ container pause ${id} \\(image=busybox, name=bl\\)\\n$`))
    const pruned = await b(['container', 'prune', '-f'])
    assert.match(pruned, new RegExp(`Deleted Containers:\\n${id}\\n`))
  })
})
