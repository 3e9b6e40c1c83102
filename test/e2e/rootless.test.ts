// berth without root: ordinary users (made here with useradd, which gives them /etc/subuid and
// /etc/subgid ranges, and removed after, also on failure) run the seed workflow through `berth`
// (which starts their own berthd) and through the stock docker CLI at their socket; two users
// at once keep separate state; a user without subordinate IDs gets a clear error. pasta needs
// /dev/net/tun open to users (Debian's default, 0666): the test sets that for its run and puts
// back the mode it found.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, chmod, copyFile, readdir, readFile, rm, stat } from 'node:fs/promises'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import {
  berthBin,
  busyboxTar,
  client,
  dockerBin,
  importBusybox,
  repoRoot,
  startBerthd,
} from './harness.ts'
import { startRegistry } from '../registry/server.ts'
import { Term } from './term.ts'

interface Result {
  code: number
  stdout: string
  stderr: string
}

function exec(cmd: string, args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout, stderr })
    })
  })
}

interface TestUser {
  name: string
  uid: number
  home: string
  runtimeDir: string
  subuid?: { start: number; count: number }
}

const tag = `${process.pid % 100000}`
const users: TestUser[] = []
let tunMode: number | undefined
let tar = ''

async function makeUser(name: string, opts: { system?: boolean } = {}): Promise<TestUser> {
  // A system user gets no subordinate IDs from useradd; an ordinary one gets a fresh range.
  const r = await exec('useradd', [...(opts.system ? ['-r'] : []), '-m', '-s', '/bin/sh', name])
  assert.equal(r.code, 0, `useradd ${name}: ${r.stderr}`)
  const id = await exec('id', ['-u', name])
  const uid = Number(id.stdout.trim())
  const u: TestUser = {
    name,
    uid,
    home: (await exec('sh', ['-c', `getent passwd ${name} | cut -d: -f6`])).stdout.trim(),
    runtimeDir: `/tmp/brt-run-${uid}`,
  }
  users.push(u)
  const line = (await readFile('/etc/subuid', 'utf8'))
    .split('\n')
    .find((l) => l.startsWith(`${name}:`))
  if (line) {
    const [, start, count] = line.split(':')
    u.subuid = { start: Number(start), count: Number(count) }
  }
  return u
}

/** Runs a shell script as the user, in a login-like environment of their own. */
function asUser(u: TestUser, script: string, timeoutMs = 180_000): Promise<Result> {
  return exec(
    'runuser',
    [
      '-u',
      u.name,
      '--',
      'env',
      '-i',
      `HOME=${u.home}`,
      `USER=${u.name}`,
      `XDG_RUNTIME_DIR=${u.runtimeDir}`,
      'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
      `BERTH=${process.execPath} ${berthBin}`,
      `DOCKER_HOST=unix://${u.runtimeDir}/berth/berth.sock`,
      'sh',
      '-ec',
      `mkdir -p -m 700 "$XDG_RUNTIME_DIR"; cd "$HOME"; berth() { $BERTH "$@"; }\n${script}`,
    ],
    timeoutMs,
  )
}

/** The pids of every process running as the user or as one of its subordinate IDs. */
async function processesOf(u: TestUser): Promise<number[]> {
  const out: number[] = []
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue
    const status = await readFile(`/proc/${d}/status`, 'utf8').catch(() => '')
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1)
    const sub = u.subuid
    if (uid === u.uid || (sub && uid >= sub.start && uid < sub.start + sub.count)) {
      out.push(Number(d))
    }
  }
  return out
}

async function removeUser(u: TestUser): Promise<void> {
  // berthd first (it stops cleanly), then whatever is left: the namespace holder, conmon,
  // containers and pasta, all of them the user's own processes (its namespace goes with them).
  const outer = Number(
    (await readFile(`${u.runtimeDir}/berth/berthd.lock`, 'utf8').catch(() => '')).trim(),
  )
  if (outer > 0) {
    try {
      process.kill(outer, 'SIGTERM')
    } catch {
      // gone already
    }
  }
  for (let i = 0; i < 3; i++) {
    for (const pid of await processesOf(u)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone already
      }
    }
  }
  await exec('userdel', ['-r', '-f', u.name])
  await rm(u.runtimeDir, { recursive: true, force: true })
}

before(async () => {
  tunMode = (await stat('/dev/net/tun')).mode & 0o7777
  await chmod('/dev/net/tun', 0o666)
  tar = await busyboxTar()
})

after(async () => {
  for (const u of users) await removeUser(u)
  if (tunMode !== undefined) await chmod('/dev/net/tun', tunMode)
})

async function withImage(u: TestUser): Promise<void> {
  const dest = `${u.home}/busybox.tar`
  await copyFile(tar, dest)
  await exec('chown', [`${u.name}:`, dest])
  const r = await asUser(u, 'berth import busybox.tar busybox >/dev/null')
  assert.equal(r.code, 0, r.stderr)
  // The user's first command started the user's own berthd, at the user's socket.
  assert.equal(r.stderr, `berth: no daemon at ${u.runtimeDir}/berth/berth.sock, starting berthd\n`)
}

function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  throw new Error('the host has no IPv4 address besides loopback')
}

let alice: TestUser

test('an ordinary user runs the seed workflow through berth with a berthd of their own', async () => {
  alice = await makeUser(`brta${tag}`)
  assert.ok(alice.subuid, 'useradd gave the user a subordinate range')
  await withImage(alice)
  const r = await asUser(
    alice,
    `
    berth run --rm busybox echo hello
    test -S "$XDG_RUNTIME_DIR/berth/berth.sock" && echo "socket ok"
    berth run --rm -w /tmp -e GREETING=hi busybox sh -c 'echo "$GREETING from $(pwd) as $(id -u)"'
    mkdir -p share; echo host > share/in
    berth run --rm -v "$HOME/share:/data" busybox sh -c 'cat /data/in; echo ctr > /data/out; touch /data/by5; chown 5:5 /data/by5'
    stat -c '%u %n' share/out
    stat -c '%u %n' share/by5
    if berth run --rm -v /etc:/hostetc busybox sh -c 'echo x > /hostetc/berth-rootless-test' 2>/dev/null; then echo "wrote /etc"; else echo "etc refused"; fi
    berth run --rm -v data:/v busybox sh -c 'echo kept > /v/f'
    berth run --rm -v data:/v busybox cat /v/f
    berth run -d --name box busybox sleep 300 >/dev/null
    berth exec box sh -c 'echo exec in $(hostname)'
    berth exec box sh -c 'echo changed > /changed'
    berth commit box box:snap >/dev/null
    berth run --rm box:snap cat /changed
    mkdir ctx; printf 'FROM busybox\\nRUN echo built > /built && chown 7:7 /built\\nCMD ["sh","-c","cat /built; stat -c %%u /built"]\\n' > ctx/Dockerfile
    berth build -q -t built ctx >/dev/null
    berth run --rm built
    berth ps -a --format '{{.Names}} {{.Status}}' | sed 's/ Up.*/ up/'
    berth rm -f box >/dev/null
    berth ps -a -q | wc -l
    berth images --format '{{.Repository}}:{{.Tag}}' | sort
    `,
  )
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  assert.match(lines[8] ?? '', /^exec in [0-9a-f]{12}$/)
  lines[8] = 'exec in HOSTNAME'
  assert.deepEqual(lines, [
    'hello',
    'socket ok',
    'hi from /tmp as 0',
    'host',
    `${alice.uid} share/out`,
    `${alice.subuid!.start + 4} share/by5`,
    'etc refused',
    'kept',
    'exec in HOSTNAME',
    'changed',
    'built',
    '7',
    'box up',
    '0',
    'box:snap',
    'built:latest',
    'busybox:latest',
    '',
  ])
  // Nothing was written outside the user's paths: no file in the data root is root's.
  const dataRoot = `${alice.home}/.local/share/berth`
  const foreign = await exec('find', [
    dataRoot,
    '-xdev',
    '!',
    '-uid',
    String(alice.uid),
    '(',
    '-uid',
    '0',
    '-o',
    '-gid',
    '0',
    ')',
  ])
  assert.equal(foreign.stdout, '', 'no file in the data root belongs to root')
  await assert.rejects(stat('/etc/berth-rootless-test'))
})

test('published ports answer on the host address and 127.0.0.1; limits are refused with the reason', async () => {
  const port = 20000 + (process.pid % 20000)
  const r = await asUser(
    alice,
    `
    berth run -d --name web -p ${port}:80 busybox sh -c 'echo served > /index.html; exec httpd -f -p 80 -h /' >/dev/null
    berth port web
    if berth run --rm --memory 64m busybox true 2>err; then echo "limit accepted"; else cat err; fi
    if docker run --rm --cpus 0.5 --pids-limit 10 busybox true 2>err; then echo "limit accepted"; else echo "docker: $?"; cat err; fi
    berth run --rm --network none busybox sh -c 'ls /sys/class/net | tr "\\n" " "; echo'
    berth run --rm --network host busybox sh -c 'test -e /sys/class/net/lo && echo "host network"'
    `,
  )
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`^80/tcp -> 0\\.0\\.0\\.0:${port}$`, 'm'))
  // What the refusal says depends on the host's cgroups; on this project's hosts (v1 beside v2)
  // it names what the unified hierarchy has.
  const unified = await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(
    () => undefined,
  )
  const why =
    unified === undefined
      ? 'resource limits are not available: '
      : `resource limits are not available: this host runs cgroups v1 beside v2 and the v1 controllers belong to root, so berthd running without root cannot limit memory, CPU or processes (the unified hierarchy at /sys/fs/cgroup/unified has ${unified.trim() ? `only ${unified.trim().split(/\s+/).join(', ')}` : 'no controllers'})`
  const refusals = r.stdout.split('\n').filter((l) => l.includes('resource limits'))
  assert.equal(refusals.length, 2, r.stdout)
  assert.ok(refusals[0]?.includes(why), refusals[0])
  assert.match(r.stdout, /^docker: 125$/m, 'the docker CLI exits 125 on the refusal')
  assert.ok(refusals[1]?.includes(`docker: Error response from daemon: ${why}`), refusals[1])
  assert.match(r.stdout, /^lo $/m, '--network none has loopback only')
  assert.match(r.stdout, /^host network$/m)
  assert.doesNotMatch(r.stdout, /limit accepted/)
  for (const host of ['127.0.0.1', hostAddress()]) {
    const res = await fetch(`http://${host}:${port}/index.html`)
    assert.equal(await res.text(), 'served\n', host)
  }
  const rm = await asUser(alice, 'berth rm -f web >/dev/null')
  assert.equal(rm.code, 0, rm.stderr)
})

/** The host's own nftables rule set, in its network namespace. */
async function hostRules(): Promise<string> {
  return (await exec('nft', ['list', 'ruleset'])).stdout
}

test('user-defined networks without root: names both ways, an alias, -p, a berthd restart, network rm, nothing left', async () => {
  const net = `rlnet${tag}`
  const r = await asUser(
    alice,
    `
    berth network create ${net} >/dev/null
    berth network ls --filter name=${net} --format '{{.Name}} {{.Driver}}'
    berth run -d --name web --network ${net} --network-alias www -p 80 busybox sh -c 'echo from web > /i.html; exec httpd -f -p 80 -h /' >/dev/null
    berth run -d --name db --network ${net} busybox sh -c 'echo from db > /i.html; exec httpd -f -p 80 -h /' >/dev/null
    berth exec db wget -qO- http://web/i.html
    berth exec web wget -qO- http://db/i.html
    berth exec db wget -qO- http://www/i.html
    berth exec db sh -c 'grep nameserver /etc/resolv.conf'
    berth network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' ${net}
    berth port web 80 | sed 's/.*://'
    `,
  )
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines[0], `${net} bridge`)
  assert.deepEqual(lines.slice(1, 4), ['from web', 'from db', 'from web'])
  // Names come from aardvark-dns on the network's gateway, inside the user's namespace.
  assert.equal(lines[4], `nameserver ${lines[5]}`)
  const port = Number(lines[6])
  assert.ok(port > 0, r.stdout)
  for (const host of ['127.0.0.1', hostAddress()]) {
    const res = await fetch(`http://${host}:${port}/i.html`)
    assert.equal(await res.text(), 'from web\n', host)
  }
  // The bridge, its rules and aardvark-dns are in the user's own namespace, none in the host's.
  let aardvark: number | undefined
  for (const pid of await processesOf(alice)) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')
    if (comm === 'aardvark-dns\n') aardvark = pid
  }
  assert.ok(aardvark !== undefined, 'aardvark-dns runs as the user')
  const ns = `--net=/proc/${aardvark}/ns/net`
  const bridges = (await exec('nsenter', [ns, 'ip', '-o', 'link', 'show', 'type', 'bridge'])).stdout
    .split('\n')
    .flatMap((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? [])
  assert.equal(bridges.length, 1, 'one bridge in the user namespace')
  // berth names a network's nftables chains after its bridge.
  const chain = `n-${bridges[0] as string}-in`
  assert.match(
    (await exec('nsenter', [ns, 'nft', 'list', 'table', 'ip', 'berth'])).stdout,
    new RegExp(chain),
  )
  assert.doesNotMatch(await hostRules(), new RegExp(chain))
  const hostLinks = (await exec('ip', ['-o', 'link'])).stdout
  for (const b of bridges) assert.doesNotMatch(hostLinks, new RegExp(`^\\d+: ${b}[:@]`, 'm'))

  // A berthd restart keeps the containers, their names and the published port.
  const again = await asUser(
    alice,
    `
    kill "$(cat "$XDG_RUNTIME_DIR/berth/berthd.lock")"
    while test -S "$XDG_RUNTIME_DIR/berth/berth.sock"; do sleep 0.1; done
    berth ps --format '{{.Names}} {{.Ports}}' 2>/dev/null | sort
    berth exec db wget -qO- http://www/i.html
    berth network inspect -f '{{range .Containers}}{{.Name}} {{end}}' ${net} | tr ' ' '\\n' | sort | tr '\\n' ' '; echo
    `,
  )
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.stdout, `db \nweb 0.0.0.0:${port}->80/tcp\nfrom web\n db web \n`)
  const res = await fetch(`http://127.0.0.1:${port}/i.html`)
  assert.equal(await res.text(), 'from web\n')

  // Removed: the containers, the network, and with the last of them the user's namespace,
  // its pasta, aardvark-dns and the forwarder.
  const done = await asUser(
    alice,
    `
    berth run -d --name plain busybox sleep 300 >/dev/null
    if berth network connect ${net} plain 2>err; then echo connected; else cat err; fi
    berth rm -f web db plain >/dev/null
    berth network rm ${net}
    berth network ls --format '{{.Name}}' | sort | tr '\\n' ' '; echo
    `,
  )
  assert.equal(done.code, 0, done.stderr)
  assert.match(
    done.stdout,
    /cannot connect or disconnect container plain: it is not on a user-defined network/,
  )
  assert.match(done.stdout, new RegExp(`^${net}\\nbridge host none \\n`, 'm'))
  await assert.rejects(fetch(`http://127.0.0.1:${port}/i.html`))
  const left: string[] = []
  for (const pid of await processesOf(alice)) {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim()
    // A process that exited and awaits its reaping (zombie) is gone for this purpose.
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => 'State:\tZ')
    if (/^State:\s+Z/m.test(status) || ['', 'node', 'sleep'].includes(comm)) continue
    left.push(
      (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => comm)).replace(/\0/g, ' '),
    )
  }
  assert.deepEqual(left, [], 'only berthd and the namespace holder are left')
  const holder = (await readFile(`${alice.runtimeDir}/berth/userns.pid`, 'utf8')).trim()
  const mounts = await readFile(`/proc/${holder}/mounts`, 'utf8')
  const nsMounts = mounts
    .split('\n')
    .filter((l) => l.includes(`${alice.home}/.local/share/berth/network`))
  assert.deepEqual(nsMounts, [], 'no network namespace of the user is left mounted')
  assert.doesNotMatch(await hostRules(), new RegExp(chain))
  const hostAfter = (await exec('ip', ['-o', 'link'])).stdout
  for (const b of bridges) assert.doesNotMatch(hostAfter, new RegExp(`^\\d+: ${b}[:@]`, 'm'))
})

test('without root: network connect between user networks, and a docker-compose project network', async () => {
  const a = `rlfront${tag}`
  const b = `rlback${tag}`
  const r = await asUser(
    alice,
    `
    berth network create ${a} >/dev/null
    berth network create ${b} >/dev/null
    berth run -d --name api --network ${b} busybox sh -c 'echo from api > /i.html; exec httpd -f -p 80 -h /' >/dev/null
    berth run -d --name front --network ${a} busybox sleep 300 >/dev/null
    if berth exec front wget -T 2 -qO- http://api/i.html 2>/dev/null; then echo "reached before connect"; fi
    berth network connect --alias backend ${b} front
    berth exec front wget -qO- http://api/i.html
    berth exec api sh -c 'nslookup backend >/dev/null && echo backend resolves'
    berth network disconnect ${b} front
    if berth exec front wget -T 2 -qO- http://api/i.html 2>/dev/null; then echo "reached after disconnect"; fi
    berth rm -f api front >/dev/null
    berth network rm ${a} ${b} >/dev/null
    mkdir -p proj
    printf '%s\\n' 'version: "3"' 'services:' '  web:' '    image: busybox' \\
      "    command: sh -c 'echo from compose web > /i.html; exec httpd -f -p 80 -h /'" \\
      '    ports: ["80"]' '  client:' '    image: busybox' '    command: sleep 300' > proj/docker-compose.yml
    cd proj
    docker-compose up -d 2>/dev/null
    docker network ls --filter name=proj_default --format '{{.Name}} {{.Driver}}'
    docker-compose exec -T client wget -qO- http://web/i.html
    docker-compose port web 80 | sed 's/.*://'
    `,
  )
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.deepEqual(lines.slice(0, 4), [
    'from api',
    'backend resolves',
    'proj_default bridge',
    'from compose web',
  ])
  const res = await fetch(`http://127.0.0.1:${lines[4]}/i.html`)
  assert.equal(await res.text(), 'from compose web\n')
  const down = await asUser(
    alice,
    'cd proj && docker-compose down 2>&1 | tail -1; docker network ls -q --filter name=proj_default | wc -l',
  )
  assert.equal(down.code, 0, down.stderr)
  assert.match(down.stdout, /Removing network proj_default\n0\n$/)
})

/** The commands whose network events are compared, as a script for the stock docker CLI. */
const EVENT_SCRIPT = `
S=$(date +%s.%N)
$DOCKER network create evnet >/dev/null
$DOCKER run -d --name evweb --network evnet busybox sleep 300 >/dev/null
$DOCKER network create evnet2 >/dev/null
$DOCKER network connect evnet2 evweb
$DOCKER network disconnect evnet2 evweb
$DOCKER rm -f evweb >/dev/null
$DOCKER run --rm --network evnet --name evuser busybox true
$DOCKER run --rm --name evdef busybox true
$DOCKER run --rm --name evnone --network none busybox true
$DOCKER run --rm --name evhost --network host busybox true
$DOCKER run -d --name evlong busybox sleep 300 >/dev/null
$DOCKER rm -f evlong >/dev/null
$DOCKER network rm evnet evnet2 >/dev/null
U=$(date +%s.%N)
$DOCKER network inspect -f '{{.Name}} {{.Id}} {{.Driver}}' bridge host none
$DOCKER events --since "$S" --until "$U" --format '{{json .}}'
`

interface SeenEvent {
  Type: string
  Action: string
  Actor: { ID: string; Attributes: Record<string, string> }
}

/**
 * A script's network events, with container IDs as names, and its container create, die and
 * destroy events around them (for the order); each network event's ID checked against the
 * predefined networks' and against the network's other events.
 */
function networkEvents(out: string): string[] {
  const lines = out.trim().split('\n')
  const predefined = new Map<string, { id: string; driver: string }>()
  for (const l of lines.slice(0, 3)) {
    const [name, id, driver] = l.split(' ')
    predefined.set(name!, { id: id!, driver: driver! })
  }
  const events = lines.slice(3).map((l) => JSON.parse(l) as SeenEvent)
  const names = new Map<string, string>()
  for (const e of events) {
    if (e.Type === 'container' && e.Actor.Attributes.name)
      names.set(e.Actor.ID, e.Actor.Attributes.name)
  }
  const ids = new Map<string, string>()
  const out2: string[] = []
  for (const e of events) {
    const a = e.Actor.Attributes
    if (e.Type === 'container' && ['create', 'die', 'destroy'].includes(e.Action)) {
      out2.push(`container ${e.Action} ${a.name}`)
    }
    if (e.Type !== 'network') continue
    const name = a.name!
    const known = predefined.get(name)
    if (known) {
      assert.equal(e.Actor.ID, known.id, `${name}'s ID`)
      assert.equal(a.type, known.driver, `${name}'s type is its driver`)
    }
    assert.equal(e.Actor.ID, ids.get(name) ?? e.Actor.ID, `one ID for ${name}`)
    ids.set(name, e.Actor.ID)
    const extra = Object.keys(a).filter((k) => !['name', 'type', 'container'].includes(k))
    assert.deepEqual(extra, [], 'no other attributes')
    const who = a.container === undefined ? '' : ` ${names.get(a.container) ?? a.container}`
    out2.push(`network ${e.Action} ${name} ${a.type}${who}`)
  }
  return out2
}

test('without root, networks tell the events root berthd tells: create, connect, disconnect, destroy', async () => {
  const root = await startBerthd()
  try {
    await importBusybox(root)
    const docker = await dockerBin()
    const asRoot = await client('sh', ['-ec', EVENT_SCRIPT], {
      host: root,
      env: { DOCKER: docker },
      timeoutMs: 180_000,
    })
    assert.equal(asRoot.code, 0, asRoot.stderr)
    const rootless = await asUser(alice, `DOCKER=docker\n${EVENT_SCRIPT}`)
    assert.equal(rootless.code, 0, rootless.stderr)
    const want = networkEvents(asRoot.stdout)
    // What root berthd tells, the commands' every network step among them.
    assert.deepEqual(want.slice(0, 4), [
      'network create evnet bridge',
      'container create evweb',
      'network connect evnet bridge evweb',
      'network create evnet2 bridge',
    ])
    assert.ok(want.includes('network connect none null evnone'), want.join('\n'))
    assert.ok(want.includes('network disconnect host host evhost'), want.join('\n'))
    // The same without root, but for the predefined bridge network, which is pasta's there.
    assert.deepEqual(
      networkEvents(rootless.stdout),
      want.map((l) => l.replace(/^(network \w+ bridge) bridge/, '$1 pasta')),
    )
    // A container started by the berthd before is told disconnected, once, when it goes.
    const kept = await asUser(
      alice,
      `
      docker run -d --name evkeep busybox sleep 300 >/dev/null
      kill "$(cat "$XDG_RUNTIME_DIR/berth/berthd.lock")"
      while test -S "$XDG_RUNTIME_DIR/berth/berth.sock"; do sleep 0.1; done
      berth ps -q >/dev/null 2>&1
      S=$(date +%s.%N)
      docker rm -f evkeep >/dev/null
      U=$(date +%s.%N)
      docker events --since "$S" --until "$U" --filter type=network --format '{{.Action}} {{.Actor.Attributes.name}}'
      `,
    )
    assert.equal(kept.code, 0, kept.stderr)
    assert.equal(kept.stdout, 'disconnect bridge\n')
  } finally {
    await root.stop()
  }
})

test('ports without a host port, -P and host-port ranges get a free port berthd picks', async () => {
  const first = 21000 + (process.pid % 20000)
  const httpd = (text: string): string =>
    `busybox sh -c 'echo ${text} > /index.html; exec httpd -f -p 80 -h /' >/dev/null`
  const r = await asUser(
    alice,
    `
    berth run -d --name auto -p 127.0.0.1::80 ${httpd('auto')}
    berth port auto 80
    berth run -d --name all --expose 80 -P ${httpd('all')}
    berth port all
    berth run -d --name ranged -p ${first}-${first + 5}:80 ${httpd('ranged')}
    berth port ranged
    berth inspect -f '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}' auto
    berth ps --format '{{.Names}} {{.Ports}}' | sort
    if berth run --rm -p 80:80 busybox true 2>err; then echo "port 80 published"; else cat err >&2; fi
    `,
  )
  assert.equal(r.code, 0, r.stderr)
  const [auto, all, ranged, inspected, ...ps] = r.stdout.trim().split('\n')
  const autoPort = Number(/^127\.0\.0\.1:(\d+)$/.exec(auto ?? '')?.[1])
  const allPort = Number(/^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(all ?? '')?.[1])
  const rangedPort = Number(/^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(ranged ?? '')?.[1])
  assert.ok(autoPort > 0 && allPort > 0, r.stdout)
  assert.ok(rangedPort >= first && rangedPort <= first + 5, r.stdout)
  assert.notEqual(autoPort, allPort)
  assert.equal(Number(inspected), autoPort)
  assert.match(
    r.stderr,
    /failed to bind host port for 0\.0\.0\.0:80:0\.0\.0\.0:80\/tcp: permission denied \(berth without root cannot publish host ports below net\.ipv4\.ip_unprivileged_port_start/,
  )
  assert.deepEqual(ps, [
    `all 0.0.0.0:${allPort}->80/tcp`,
    `auto 127.0.0.1:${autoPort}->80/tcp`,
    `ranged 0.0.0.0:${rangedPort}->80/tcp`,
  ])
  for (const [port, text] of [
    [autoPort, 'auto'],
    [allPort, 'all'],
    [rangedPort, 'ranged'],
  ] as const) {
    const res = await fetch(`http://127.0.0.1:${port}/index.html`)
    assert.equal(await res.text(), `${text}\n`)
  }
  const rm = await asUser(alice, 'berth rm -f auto all ranged >/dev/null')
  assert.equal(rm.code, 0, rm.stderr)
})

test('info says rootless (berth and docker), network ls shows the bridge network as pasta', async () => {
  const r = await asUser(
    alice,
    `
    berth info --format '{{json .SecurityOptions}}'
    docker info --format '{{.SecurityOptions}} {{.MemoryLimit}}'
    docker info 2>/dev/null | grep -A3 'Security Options' | sed -n 's/^ *//; 2,4p'
    berth network ls --format '{{.Name}} {{.Driver}}' | sort
    docker network inspect -f '{{.Driver}} {{len .IPAM.Config}}' bridge
    `,
  )
  assert.equal(r.code, 0, r.stderr)
  assert.equal(
    r.stdout,
    '["name=seccomp,profile=builtin","name=rootless"]\n' +
      '[name=seccomp,profile=builtin name=rootless] false\n' +
      'seccomp\n' +
      'Profile: builtin\n' +
      'rootless\n' +
      'bridge pasta\nhost host\nnone null\n' +
      'pasta 0\n',
  )
})

test('without root: run -it, Ctrl+p Ctrl+q, attach, exec -it in a real terminal', async () => {
  const u = alice
  const t = await Term.start(
    {},
    `exec runuser -u ${u.name} -- env -i HOME=${u.home} USER=${u.name} TERM=xterm ` +
      `XDG_RUNTIME_DIR=${u.runtimeDir} PATH=/usr/local/bin:/usr/bin:/bin PS1='$ ' ` +
      `bash --norc --noprofile`,
  )
  const PROMPT = /^\/ #$/
  const SHELL = /\$$/
  try {
    await t.waitLast(SHELL)
    await t.line(`berth() { ${process.execPath} ${berthBin} "$@"; }; cd`)
    await t.line('berth run -it --name itbox busybox sh')
    await t.waitLast(PROMPT)
    await t.line('echo hi$((1+1)) as $(id -u)')
    await t.waitFor(/^hi2 as 0\r?$/m)
    await t.keys('C-p', 'C-q')
    await t.waitLast(SHELL)
    await t.line('echo "run=$?"')
    await t.waitFor(/^run=0$/m)
    await t.line('berth attach itbox')
    await t.waitLast(PROMPT)
    await t.keys('C-p', 'C-q')
    await t.waitFor(/read escape sequence/)
    await t.line('echo "attach=$?"')
    await t.waitFor(/^attach=1$/m)
    await t.line('berth exec -it itbox sh')
    await t.waitLast(PROMPT)
    await t.line('stty size')
    await t.waitFor(/^30 100\r?$/m)
    await t.line('exit 5')
    await t.waitLast(SHELL)
    await t.line('echo "exec=$?"')
    await t.waitFor(/^exec=5$/m)
    await t.line('berth attach itbox')
    await t.waitLast(PROMPT)
    await t.line('exit')
    await t.waitLast(SHELL)
    await t.line(
      'echo "attach2=$?"; berth inspect -f "{{.State.Status}} {{.State.ExitCode}}" itbox',
    )
    await t.waitFor(/^attach2=0\r?\nexited 0$/m)
  } finally {
    await t.stop()
  }
  const rm = await asUser(alice, 'berth rm itbox >/dev/null')
  assert.equal(rm.code, 0, rm.stderr)
})

/** The real notebook image's root filesystem (examples/jupyter/make-rootfs.sh), when made. */
const JUPYTER_ROOTFS = join(repoRoot, 'examples/jupyter/.cache/rootfs.tar')

test('berth notebook without root: the printed URL answers on 127.0.0.1', async (t) => {
  // The real Jupyter image (Debian's jupyter-notebook) when its root filesystem has been made;
  // else a stand-in that prints Jupyter's token line and serves on 8889, and the test says so.
  const real = await access(JUPYTER_ROOTFS).then(
    () => true,
    () => false,
  )
  if (!real) {
    t.diagnostic(
      `${JUPYTER_ROOTFS} is missing (examples/jupyter/make-rootfs.sh makes it): this run used a busybox stand-in for the Jupyter image`,
    )
  }
  const image = real
    ? `berth import --change 'WORKDIR /home' --change 'EXPOSE 8889' --change 'CMD ["jupyter", "notebook", "--ip=0.0.0.0", "--port=8889", "--no-browser", "--allow-root"]' ${JUPYTER_ROOTFS} nbimage >/dev/null`
    : `mkdir -p nbctx
    printf '%s\\n' 'FROM busybox' 'EXPOSE 8889' 'CMD ["sh","-c","mkdir -p /www; echo notebook > /www/index.html; echo http://127.0.0.1:8889/?token=0123abcd; exec httpd -f -p 8889 -h /www"]' > nbctx/Dockerfile
    berth build -q -t nbimage nbctx >/dev/null`
  const r = await asUser(
    alice,
    `
    ${image}
    berth notebook --name nb nbimage
    berth notebook ls
    `,
    600_000,
  )
  assert.equal(r.code, 0, r.stderr)
  const m = /^Notebook nb is running: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]+))$/m.exec(
    r.stdout,
  )
  assert.ok(m, r.stdout)
  const res = await fetch(m[1] as string)
  assert.equal(res.status, 200)
  const body = await res.text()
  if (real) assert.match(body, /Jupyter/, body.slice(0, 400))
  else assert.equal(body, 'notebook\n')
  assert.match(r.stdout, new RegExp(`nb .*127\\.0\\.0\\.1:${m[2]}`))
  const stop = await asUser(
    alice,
    'berth notebook stop nb >/dev/null; berth rm nb >/dev/null; berth rmi nbimage >/dev/null',
  )
  assert.equal(stop.code, 0, stop.stderr)
})

test('the stock docker CLI works at the user socket, and containers outlive a berthd restart', async () => {
  const r = await asUser(
    alice,
    `
    docker run --rm busybox echo via docker
    docker run -d --name long busybox sleep 300 >/dev/null
    kill "$(cat "$XDG_RUNTIME_DIR/berth/berthd.lock")"
    while test -S "$XDG_RUNTIME_DIR/berth/berth.sock"; do sleep 0.1; done
    berth ps --format '{{.Names}}' 2>/dev/null
    docker exec long echo still running
    docker images --format '{{.Repository}}' | sort | head -1
    docker rm -f long >/dev/null
    `,
  )
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'via docker\nlong\nstill running\nbox\n')
})

test('push to and pull from a registry without root', async () => {
  const reg = await startRegistry()
  try {
    const ref = `${reg.name}/rootless/bb:1`
    const r = await asUser(
      alice,
      `
      berth tag busybox ${ref}
      berth push ${ref} >/dev/null
      berth rmi ${ref} >/dev/null
      berth pull ${ref} >/dev/null
      berth run --rm ${ref} echo pulled
      berth rmi ${ref} >/dev/null
      `,
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'pulled\n')
  } finally {
    await reg.stop()
  }
})

test('two users at once keep separate state and cannot reach each other', async () => {
  const bob = await makeUser(`brtb${tag}`)
  await withImage(bob)
  const [a, b] = await Promise.all([
    asUser(alice, 'berth run --rm busybox echo alice; berth ps -a -q | wc -l'),
    asUser(
      bob,
      'berth run --rm busybox echo bob; berth images --format "{{.Repository}}:{{.Tag}}"',
    ),
  ])
  assert.equal(a.code, 0, a.stderr)
  assert.equal(b.code, 0, b.stderr)
  assert.equal(a.stdout, 'alice\n0\n')
  assert.equal(b.stdout, 'bob\nbusybox:latest\n', "bob sees none of alice's images")
  const cross = await asUser(
    bob,
    `if BERTH_HOST=unix://${alice.runtimeDir}/berth/berth.sock $BERTH ps 2>&1; then echo reached; fi`,
  )
  assert.doesNotMatch(cross.stdout, /reached|CONTAINER ID/)
})

test('a user without subordinate IDs gets a clear error naming the missing entries', async () => {
  const carl = await makeUser(`brtc${tag}`, { system: true })
  assert.equal(carl.subuid, undefined)
  const r = await asUser(carl, 'berth ps')
  assert.equal(r.code, 125)
  assert.match(
    r.stderr,
    new RegExp(
      `subordinate IDs for user "${carl.name}" \\(uid ${carl.uid}\\), and /etc/subuid and /etc/subgid have no entry for it: ask an administrator to add a line such as "${carl.name}:100000:65536"`,
    ),
  )
})
