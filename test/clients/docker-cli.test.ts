// The tutorial's whole workflow (/work/shared/tutorial.md) through the stock docker CLI (v28)
// with DOCKER_HOST at berthd, in the order a user meets it: build an image, run containers with
// --name -it --rm -d -w -v -p -e, leave one with Ctrl+p Ctrl+q and come back with attach, start,
// exec -it, commit, ps -a, logs, cp, diff, inspect, tag, push and pull through a registry, save
// and load, the volume and network commands, system df, events, stats, then rm, rmi and
// system prune. The tests share one daemon and run in order, as one session. Interactive steps
// run in a real terminal (tmux); everything else asserts what the CLI prints.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  SCRATCH_HOST_IP,
  client,
  curlIn,
  docker,
  dockerBin,
  importBusybox,
  startBerthd,
  startDockerd,
  type RunResult,
} from '../e2e/harness.ts'
import { Term } from '../e2e/term.ts'
import { startRegistry, type RegistryServer } from '../registry/server.ts'

/** busybox sh's prompt, as capture-pane shows it. */
const PROMPT = /^\/[^#]* #$/
/** bash's prompt in the terminal, back after the client exits. */
const SHELL = /\$$/

/** The engine under test: berthd, or Debian's dockerd run the same way for comparison. */
interface Engine {
  name: 'berthd' | 'dockerd'
  socket: string
  /** Its network namespace: the registry listens there, and curl reaches published ports. */
  netns: string
  /** The host address its published ports answer on, in that namespace. */
  hostIp: string
  stop(): Promise<void>
}

async function startEngine(name: Engine['name']): Promise<Engine> {
  if (name === 'berthd') {
    const b = await startBerthd()
    return {
      name,
      socket: b.socket,
      netns: b.netns!,
      hostIp: SCRATCH_HOST_IP,
      stop: () => b.stop(),
    }
  }
  const dd = await startDockerd({ bridge: true })
  const pid = (await readFile(join(dd.dir, 'p'), 'utf8')).trim()
  return {
    name,
    socket: dd.socket,
    netns: `/proc/${pid}/ns/net`,
    hostIp: '127.0.0.1',
    stop: () => dd.stop(),
  }
}

function workflow(name: Engine['name']): void {
  let d: Engine
  let registry: RegistryServer
  let work: string
  let term: Term
  let since: string
  let jupyterId = ''
  /** `ps -q`'s line for the jupyter container. */
  const jupyter = (): string => `${jupyterId.slice(0, 12)}\n`

  before(async () => {
    d = await startEngine(name)
    await importBusybox(d)
    registry = await startRegistry({ netns: d.netns })
    work = await mkdtemp('/tmp/bt-tutorial-')
    term = await Term.start(
      {
        DOCKER_HOST: `unix://${d.socket}`,
        DOCKER_CONFIG: join(work, 'cfg'),
        DOCKER_CLI_HINTS: 'false',
        HOME: work,
        PATH: `${(await dockerBin()).replace(/\/docker$/, '')}:${process.env.PATH ?? ''}`,
      },
      'true',
    )
    since = String(Math.floor(Date.now() / 1000) - 1)
  })

  after(async () => {
    await term?.stop()
    await registry?.stop()
    await d?.stop()
    if (work) await rm(work, { recursive: true, force: true })
  })

  const host = (): { host: Engine; timeoutMs: number } => ({ host: d, timeoutMs: 120_000 })

  async function ok(args: string[]): Promise<RunResult> {
    const r = await docker(args, host())
    assert.equal(r.code, 0, `docker ${args.join(' ')} (${r.code}):\n${r.stdout}${r.stderr}`)
    return r
  }

  /** What `curl` gets from a published port on the engine's host. */
  const curl = (port: number, path = '/'): Promise<string> =>
    curlIn(d.netns, `http://${d.hostIp}:${port}${path}`)

  describe('creating an image', () => {
    test('docker build -t image_name . (from the directory holding the Dockerfile)', async () => {
      const ctx = join(work, 'ctx')
      await mkdir(ctx)
      await writeFile(
        join(ctx, 'Dockerfile'),
        [
          'FROM busybox',
          'ENV GREETING=hello',
          'COPY notes.txt /opt/notes.txt',
          'RUN mkdir -p /srv/www && echo built at build time > /srv/www/index.html',
          'WORKDIR /srv',
          'CMD ["sh"]',
          '',
        ].join('\n'),
      )
      await writeFile(join(ctx, 'notes.txt'), 'from the context\n')
      const r = await client(
        'sh',
        ['-c', `cd "$1" && exec "$2" build -t tutorial_base .`, 'sh', ctx, await dockerBin()],
        host(),
      )
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.match(r.stdout, /Step 3\/6 : COPY notes.txt \/opt\/notes.txt/)
      assert.match(r.stdout, /Successfully tagged tutorial_base:latest/)
    })

    test('docker images lists it, with the base image', async () => {
      const r = await ok(['images'])
      const lines = r.stdout.trim().split('\n')
      assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/)
      assert.ok(lines.some((l) => /^tutorial_base\s+latest\s+[0-9a-f]{12}\s+.* ago\s+\S+/.test(l)))
      assert.ok(
        lines.some((l) => /^busybox\s+latest\s/.test(l)),
        r.stdout,
      )
    })
  })

  describe('running a container', () => {
    test('run --name -d -w -v (host dirs and named volumes, several) -p -e', async () => {
      const data1 = join(work, 'data1')
      const data2 = join(work, 'data2')
      await mkdir(data1)
      await mkdir(data2)
      await writeFile(join(data2, 'input.txt'), 'from the host\n')
      const r = await ok([
        'run',
        '--name=jupyter',
        '-d',
        '-p',
        '8889:80',
        '-v',
        `${data1}:/home/out`,
        '-v',
        `${data2}:/home/in`,
        '-v',
        'abstract:/home/abstract',
        '-v',
        'scratchpad:/home/scratch',
        '-w',
        '/home',
        '-e',
        'GREETING=hi there',
        'tutorial_base',
        'sh',
        '-c',
        'echo "$GREETING from $(pwd)" > out/greeting; cat in/input.txt > abstract/copy; ' +
          'echo started; exec httpd -f -p 80 -h /srv/www',
      ])
      assert.match(r.stdout, /^[0-9a-f]{64}\n$/)
      jupyterId = r.stdout.trim()
      // The server answers on the published port of the host.
      assert.equal(await curl(8889, '/index.html'), 'built at build time\n')
      // The host directory holds what the container wrote, from its working directory.
      assert.equal(await readFile(join(data1, 'greeting'), 'utf8'), 'hi there from /home\n')
      const vols = await ok(['volume', 'ls', '--format', '{{.Driver}} {{.Name}}'])
      assert.deepEqual(vols.stdout.trim().split('\n').sort(), [
        'local abstract',
        'local scratchpad',
      ])
    })

    test('a named volume outlives its container and is seen by another one', async () => {
      const r = await ok(['run', '--rm', '-v', 'abstract:/data', 'busybox', 'cat', '/data/copy'])
      assert.equal(r.stdout, 'from the host\n')
      // --rm took the container away: of busybox's descendants only jupyter is left.
      assert.equal((await ok(['ps', '-aq', '--filter', 'ancestor=busybox'])).stdout, jupyter())
    })

    test('run -it --rm: a shell in the terminal; exit removes the container', async () => {
      await term.line('docker run -it --rm busybox sh')
      await term.waitLast(PROMPT)
      await term.line('echo inside-$((6*7))')
      await term.waitFor(/^inside-42\r?$/m)
      await term.line('exit')
      await term.waitLast(SHELL)
      assert.equal((await ok(['ps', '-aq', '--filter', 'ancestor=busybox'])).stdout, jupyter())
    })

    test('run -it --name, then Ctrl+p Ctrl+q leaves it running', async () => {
      await term.line('docker run -it --name=box tutorial_base')
      await term.waitLast(PROMPT)
      await term.line('pwd; echo kept > /srv/made-in-box')
      await term.waitFor(/^\/srv\r?$/m)
      await term.keys('C-p', 'C-q')
      await term.waitLast(SHELL)
      const s = await ok(['inspect', '-f', '{{.State.Status}}', 'box'])
      assert.equal(s.stdout, 'running\n')
    })

    test('attach comes back to it; Ctrl+p Ctrl+q leaves again', async () => {
      await term.line('clear; docker attach box')
      await term.line('echo attached-$((1+1))')
      await term.waitFor(/^attached-2\r?$/m)
      await term.keys('C-p', 'C-q')
      await term.waitFor(/read escape sequence/)
      await term.waitLast(SHELL)
      assert.equal((await ok(['inspect', '-f', '{{.State.Running}}', 'box'])).stdout, 'true\n')
    })

    test('exec -it runs another shell beside it; its exit leaves the container running', async () => {
      await term.line('clear; docker exec -it box sh')
      await term.waitLast(PROMPT)
      await term.line('cat /srv/made-in-box; ps -o comm | sort | uniq -c | grep -c sh')
      await term.waitFor(/^kept\r?$/m)
      await term.line('exit')
      await term.waitLast(SHELL)
      assert.equal((await ok(['inspect', '-f', '{{.State.Running}}', 'box'])).stdout, 'true\n')
    })

    test('exit in the attached shell stops it; docker start brings it back', async () => {
      await term.line('clear; docker attach box')
      await term.line('echo leaving')
      await term.waitFor(/^leaving\r?$/m)
      await term.line('exit')
      await term.waitLast(SHELL)
      assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'box'])).stdout, 'exited\n')
      assert.equal((await ok(['start', 'box'])).stdout, 'box\n')
      assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'box'])).stdout, 'running\n')
      // The file made before the stop is still in the container.
      assert.equal((await ok(['exec', 'box', 'cat', '/srv/made-in-box'])).stdout, 'kept\n')
    })
  })

  describe('looking after containers and images', () => {
    test('commit saves a container as an image', async () => {
      const r = await ok(['commit', 'box', 'tutorial_base:saved'])
      assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/)
      // The commit paused the container and left it running.
      assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'box'])).stdout, 'running\n')
      const run = await ok(['run', '--rm', 'tutorial_base:saved', 'cat', '/srv/made-in-box'])
      assert.equal(run.stdout, 'kept\n')
    })

    test('ps -a lists every container, with its names, ports and state', async () => {
      const exited = await docker(
        ['run', '--name', 'done', 'busybox', 'sh', '-c', 'echo finished; exit 3'],
        host(),
      )
      assert.equal(exited.code, 3, exited.stderr)
      const r = await docker(['ps', '-a'], host())
      assert.equal(r.code, 0, r.stderr)
      const lines = r.stdout.trim().split('\n')
      assert.match(lines[0]!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/)
      const row = (name: string) => lines.find((l) => l.endsWith(` ${name}`)) ?? ''
      assert.match(
        row('jupyter'),
        /tutorial_base .* Up .*0\.0\.0\.0:8889->80\/tcp(, \[::\]:8889->80\/tcp)?\s+jupyter$/,
      )
      assert.match(row('box'), /tutorial_base\s+"sh"\s+.* Up /)
      assert.match(row('done'), /busybox .* Exited \(3\) .* ago\s+done$/)
      const running = await ok(['ps', '--format', '{{.Names}}'])
      assert.deepEqual(running.stdout.trim().split('\n').sort(), ['box', 'jupyter'])
    })

    test('logs shows what a container printed', async () => {
      assert.equal((await docker(['logs', 'done'], host())).stdout, 'finished\n')
      assert.equal((await ok(['logs', 'jupyter'])).stdout, 'started\n')
    })

    test('cp copies files in and out, and reads /etc files the network gave it', async () => {
      const src = join(work, 'to-container.txt')
      await writeFile(src, 'copied in\n')
      await ok(['cp', src, 'jupyter:/srv/www/copied.txt'])
      assert.equal(await curl(8889, '/copied.txt'), 'copied in\n')
      const out = join(work, 'from-container')
      await ok(['cp', 'jupyter:/srv/www/index.html', out])
      assert.equal(await readFile(out, 'utf8'), 'built at build time\n')
      const hosts = join(work, 'hosts')
      await ok(['cp', 'jupyter:/etc/hosts', hosts])
      assert.match(await readFile(hosts, 'utf8'), /127\.0\.0\.1\s+localhost/)
      assert.ok((await stat(hosts)).size > 0)
    })

    test('diff lists what changed in the container', async () => {
      const r = await ok(['diff', 'box'])
      const lines = r.stdout.trim().split('\n')
      assert.ok(lines.includes('C /srv'), r.stdout)
      assert.ok(lines.includes('A /srv/made-in-box'), r.stdout)
    })

    test('inspect shows the configuration, mounts and ports', async () => {
      const f = await ok([
        'inspect',
        '-f',
        '{{.Name}} {{.Config.WorkingDir}} {{len .Mounts}} {{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}',
        'jupyter',
      ])
      assert.equal(f.stdout, '/jupyter /home 4 8889\n')
      const json = JSON.parse((await ok(['inspect', 'jupyter'])).stdout) as {
        Config: { Env: string[] }
        Mounts: { Type: string; Name?: string; Destination: string }[]
      }[]
      assert.ok(json[0]!.Config.Env.includes('GREETING=hi there'))
      const named = json[0]!.Mounts.filter((m) => m.Type === 'volume').map((m) => m.Name)
      assert.deepEqual(named.sort(), ['abstract', 'scratchpad'])
      const img = await ok(['image', 'inspect', '-f', '{{.Config.WorkingDir}}', 'tutorial_base'])
      assert.equal(img.stdout, '/srv\n')
    })

    test('tag, push to a registry, rmi, pull it back and run it', async () => {
      const ref = `${registry.name}/lab/tutorial:1`
      await ok(['tag', 'tutorial_base', ref])
      const push = await ok(['push', ref])
      assert.match(
        push.stdout,
        new RegExp(`The push refers to repository \\[${registry.name}/lab/tutorial\\]`),
      )
      assert.match(push.stdout, /1: digest: sha256:[0-9a-f]{64} size: \d+/)
      // The last tag of the repository goes with the digest the push recorded, as in Docker.
      const rmi = await ok(['rmi', ref])
      const repo = `${registry.name}/lab/tutorial`
      assert.match(
        rmi.stdout,
        new RegExp(`^Untagged: ${ref}\nUntagged: ${repo}@sha256:[0-9a-f]{64}\n$`),
      )
      const pull = await ok(['pull', ref])
      assert.match(pull.stdout, /Status: Downloaded newer image for /)
      assert.match(pull.stdout, new RegExp(`${ref.replace(/[.]/g, '\\.')}\n$`))
      const run = await ok(['run', '--rm', ref, 'cat', '/opt/notes.txt'])
      assert.equal(run.stdout, 'from the context\n')
    })

    test('save and load carry an image through a file', async () => {
      const file = join(work, 'saved.tar')
      await ok(['save', '-o', file, 'tutorial_base:saved'])
      await ok(['rmi', 'tutorial_base:saved'])
      const l = await ok(['load', '-i', file])
      assert.match(l.stdout, /Loaded image: tutorial_base:saved/)
    })

    test('volume create, ls, inspect and rm', async () => {
      assert.equal((await ok(['volume', 'create', 'spare'])).stdout, 'spare\n')
      const i = await ok(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}}', 'spare'])
      assert.equal(i.stdout, 'spare local local\n')
      const inUse = await docker(['volume', 'rm', 'abstract'], host())
      assert.equal(inUse.code, 1)
      assert.match(inUse.stderr, /volume is in use/)
      assert.equal((await ok(['volume', 'rm', 'spare'])).stdout, 'spare\n')
    })

    test('network create, connect, inspect, disconnect and rm', async () => {
      await ok(['network', 'create', 'lab'])
      await ok(['network', 'connect', 'lab', 'box'])
      await ok(['run', '-d', '--name', 'peer', '--network', 'lab', 'busybox', 'sleep', '600'])
      // Containers on a network of the user's own reach each other by name.
      const ping = await ok(['exec', 'peer', 'busybox', 'ping', '-c', '1', '-W', '5', 'box'])
      assert.match(ping.stdout, /1 packets received/)
      const ls = await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])
      assert.match(ls.stdout, /^lab bridge$/m)
      const members = await ok([
        'network',
        'inspect',
        '-f',
        '{{range .Containers}}{{.Name}} {{end}}',
        'lab',
      ])
      assert.deepEqual(members.stdout.trim().split(' ').sort(), ['box', 'peer'])
      await ok(['network', 'disconnect', 'lab', 'box'])
      await ok(['rm', '-f', 'peer'])
      assert.equal((await ok(['network', 'rm', 'lab'])).stdout, 'lab\n')
    })

    test('stats shows the running containers', async () => {
      const r = await ok(['stats', '--no-stream', 'jupyter', 'box'])
      const lines = r.stdout.trim().split('\n')
      assert.match(
        lines[0]!,
        /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/,
      )
      assert.ok(
        lines.some((l) => /^[0-9a-f]{12}\s+jupyter\s+\d+\.\d\d%\s+\S+ \/ \S+/.test(l)),
        r.stdout,
      )
      assert.ok(
        lines.some((l) => /\sbox\s/.test(l)),
        r.stdout,
      )
    })

    test('system df sums images, containers and volumes', async () => {
      const r = await ok(['system', 'df'])
      const lines = r.stdout.trim().split('\n')
      assert.match(lines[0]!, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/)
      assert.match(r.stdout, /^Images\s+\d+\s+\d+\s+\S+/m)
      assert.match(r.stdout, /^Containers\s+3\s+2\s+\S+/m)
      assert.match(r.stdout, /^Local Volumes\s+2\s+2\s+\S+/m)
    })

    test('rm refuses a running container unless forced; rm -f and rmi clean up', async () => {
      const r = await docker(['rm', 'jupyter'], host())
      assert.equal(r.code, 1)
      // Docker 25 and later (API 1.45, berth's) say the first; Debian's 20.10 the second.
      assert.match(
        r.stderr,
        /cannot remove container "\/?jupyter": container is running|You cannot remove a running container [0-9a-f]{64}/i,
      )
      assert.equal((await ok(['rm', '-f', 'jupyter'])).stdout, 'jupyter\n')
      assert.equal((await ok(['stop', 'box'])).stdout, 'box\n')
      assert.equal((await ok(['rm', 'box'])).stdout, 'box\n')
      const rmi = await ok(['rmi', 'tutorial_base:saved'])
      assert.match(rmi.stdout, /^Untagged: tutorial_base:saved\n/)
    })

    test('system prune removes stopped containers and what nothing uses', async () => {
      const doneId = (await ok(['inspect', '-f', '{{.Id}}', 'done'])).stdout.trim()
      const r = await ok(['system', 'prune', '-f', '--volumes'])
      assert.match(r.stdout, new RegExp(`Deleted Containers:\n${doneId}\n`))
      assert.match(r.stdout, /Total reclaimed space: /)
      assert.equal((await ok(['ps', '-aq'])).stdout, '')
      // Since API 1.42 a volume prune takes only anonymous volumes: named ones stay until removed.
      // Debian's dockerd speaks 1.41, where the prune takes every unused volume.
      const vols = await ok(['volume', 'ls', '-q'])
      if (name === 'dockerd') {
        assert.equal(vols.stdout, '')
        return
      }
      assert.deepEqual(vols.stdout.trim().split('\n').sort(), ['abstract', 'scratchpad'])
      assert.equal(
        (await ok(['volume', 'rm', 'abstract', 'scratchpad'])).stdout,
        'abstract\nscratchpad\n',
      )
    })

    test('system events replays what happened, in order', async () => {
      const until = String(Math.floor(Date.now() / 1000) + 1)
      const r = await ok([
        'system',
        'events',
        '--since',
        since,
        '--until',
        until,
        '--filter',
        'container=jupyter',
        '--format',
        '{{.Type}} {{.Action}}',
      ])
      const actions = r.stdout.trim().split('\n')
      for (const a of [
        'container create',
        'container start',
        'container kill',
        'container destroy',
      ]) {
        assert.ok(actions.includes(a), r.stdout)
      }
      assert.ok(actions.indexOf('container create') < actions.indexOf('container start'))
      assert.ok(actions.indexOf('container start') < actions.indexOf('container destroy'))
    })
  })
}

// The two engines run side by side (each in namespaces of its own); each one's tests in order.
describe('the tutorial through the docker CLI', { concurrency: 2 }, () => {
  for (const name of ['berthd', 'dockerd'] as const) {
    describe(`against ${name}`, { concurrency: 1 }, () => workflow(name))
  }
})
