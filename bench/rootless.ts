// berth without root against root's berth and rootless Podman, in one interleaved run:
// `run --rm --network none busybox true`, and a cold pull of the test image (busybox) from
// Debian's docker-registry on loopback, each engine's own CLI, every command started through
// runuser (as root for root's berth) so the three pay the same start-up. A user made here
// (useradd, which gives it /etc/subuid and /etc/subgid ranges) runs rootless berth and rootless
// Podman, and is removed at the end with everything it ran. `--network none` for all three:
// rootless networking needs /dev/net/tun open to users, which this host does not have.
//
//   node --import tsx bench/rootless.ts [--runs N]     (as root; writes bench/results/rootless.md)
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Berthd, benchDir, berthCli, podmanConf } from './lib/engines.ts'
import { sh } from './lib/proc.ts'
import { busyboxTar } from '../test/e2e/harness.ts'
import { relayIntoNetns } from '../test/registry/relay.ts'
import { startRegistry } from '../test/registry/server.ts'

const runsArg = process.argv.indexOf('--runs')
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10
const user = `brbench${process.pid % 100000}`

interface Engine {
  id: string
  label: string
  argv: (args: string[]) => [string, string[]]
}

interface Rows {
  samples: Record<string, number[]>
  failures: Record<string, string>
}

/**
 * Times one command per engine, interleaved, after one warm-up round; `before` runs untimed
 * ahead of each (removing what the last one made).
 */
async function timeRows(
  engines: Engine[],
  runs: number,
  args: (e: Engine) => string[],
  before?: (e: Engine) => Promise<void>,
): Promise<Rows> {
  const rows: Rows = { samples: {}, failures: {} }
  for (let round = -1; round < runs; round++) {
    for (const e of engines) {
      if (before) await before(e)
      const r = await sh(...e.argv(args(e)), { timeoutMs: 120_000 })
      if (r.code !== 0) {
        rows.failures[e.id] = (r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`
        continue
      }
      // round -1 warms each engine up (page cache, first container) and is not counted
      if (round >= 0) (rows.samples[e.id] ??= []).push(r.ms)
    }
  }
  return rows
}

function table(engines: Engine[], rows: Rows): string {
  const base = median(rows.samples['berth-root'] ?? [NaN])
  let md = `| engine | median ms | min ms | max ms | / berth as root |\n|---|---|---|---|---|\n`
  for (const e of engines) {
    const s = rows.samples[e.id]
    if (!s || s.length === 0) {
      md += `| ${e.label} | failed: ${rows.failures[e.id] ?? '?'} | | | |\n`
      continue
    }
    const m = median(s)
    md += `| ${e.label} | ${m.toFixed(0)} | ${Math.min(...s).toFixed(0)} | ${Math.max(...s).toFixed(0)} | ${(m / base).toFixed(2)} |\n`
  }
  return md
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args, { timeoutMs: 300_000 })
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`)
  return r.stdout
}

async function cleanupUser(uid: number, sub: [number, number] | undefined): Promise<void> {
  for (let i = 0; i < 3; i++) {
    for (const d of await readdir('/proc')) {
      if (!/^\d+$/.test(d)) continue
      const st = await readFile(`/proc/${d}/status`, 'utf8').catch(() => '')
      const u = Number(/^Uid:\s+(\d+)/m.exec(st)?.[1] ?? -1)
      if (u === uid || (sub && u >= sub[0] && u < sub[0] + sub[1])) {
        try {
          process.kill(Number(d), 'SIGKILL')
        } catch {
          // gone
        }
      }
    }
  }
  await sh('userdel', ['-r', '-f', user], { cleanup: true })
}

async function main(): Promise<void> {
  let root: Berthd | undefined
  let uid = -1
  let sub: [number, number] | undefined
  const runDir = await mkdtemp('/tmp/brbench-')
  try {
    await must('useradd', ['-m', '-s', '/bin/sh', user])
    uid = Number((await must('id', ['-u', user])).trim())
    const line = (await readFile('/etc/subuid', 'utf8'))
      .split('\n')
      .find((l) => l.startsWith(`${user}:`))
    if (line) sub = [Number(line.split(':')[1]), Number(line.split(':')[2])]
    const home = `/home/${user}`
    const tar = join(home, 'busybox.tar')
    await copyFile(await busyboxTar(), tar)
    await must('chown', [`${user}:`, tar])
    const userEnv = [
      'env',
      '-i',
      `HOME=${home}`,
      `USER=${user}`,
      `XDG_RUNTIME_DIR=/tmp/brbench-run-${uid}`,
      'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
      `CONTAINERS_CONF=${podmanConf}`,
    ]
    const asUser = (cmd: string[]): [string, string[]] => [
      'runuser',
      ['-u', user, '--', ...userEnv, ...cmd],
    ]
    await must(...asUser(['mkdir', '-p', '-m', '700', `/tmp/brbench-run-${uid}`]))
    root = await Berthd.start()
    const rootSock = root.socket
    const engines: Engine[] = [
      {
        id: 'berth-root',
        label: 'berth as root',
        argv: (a) => [
          'runuser',
          ['-u', 'root', '--', process.execPath, berthCli, '--host', `unix://${rootSock}`, ...a],
        ],
      },
      {
        id: 'berth-rootless',
        label: 'berth without root',
        argv: (a) => asUser([process.execPath, berthCli, ...a]),
      },
      {
        id: 'podman-rootless',
        label: 'podman without root',
        argv: (a) => asUser(['podman', ...a]),
      },
    ]
    // Images in each engine (and rootless berthd started) before anything is timed.
    await must(process.execPath, [
      berthCli,
      '--host',
      `unix://${rootSock}`,
      'import',
      tar,
      'busybox',
    ])
    await must(...asUser([process.execPath, berthCli, 'import', tar, 'busybox']))
    await must(...asUser(['podman', 'import', tar, 'busybox']))
    const stamp = `${RUNS} interleaved rounds after one warm-up, ${new Date().toISOString()}, load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}; every command through runuser.`
    const run = await timeRows(engines, RUNS, () => [
      'run',
      '--rm',
      '--network',
      'none',
      'busybox',
      'true',
    ])
    let md = `# berth without root\n\n${stamp}\n\n`
    md += `## run --rm --network none busybox true\n\n${table(engines, run)}\n`
    // The pull: the test image (busybox, one layer of about 1 MB compressed) from Debian's
    // docker-registry on loopback, pushed once by root's berth; every engine removes it before
    // each (untimed) so that each timed pull fetches and unpacks it again.
    const reg = await startRegistry()
    // Root's berthd has a network namespace of its own: the registry's port is relayed into it,
    // so every engine reaches the same registry at the same 127.0.0.1:PORT.
    const relay = await relayIntoNetns(root.pid, Number(reg.name.split(':')[1]))
    try {
      const ref = `${reg.name}/bench/busybox:1`
      const rootCli = [berthCli, '--host', `unix://${rootSock}`]
      await must(process.execPath, [...rootCli, 'tag', 'busybox', ref])
      await must(process.execPath, [...rootCli, 'push', ref])
      const pull = await timeRows(
        engines,
        RUNS,
        (e) =>
          e.id === 'podman-rootless'
            ? ['pull', '-q', '--tls-verify=false', ref]
            : ['pull', '-q', ref],
        async (e) => void (await sh(...e.argv(['rmi', ref]), { timeoutMs: 60_000 })),
      )
      md += `\n## pull of the test image (busybox) from a registry on loopback, cold\n\n${table(engines, pull)}\n`
    } finally {
      await relay.stop()
      await reg.stop()
    }
    await writeFile(join(benchDir, 'results/rootless.md'), md)
    process.stdout.write(md)
  } finally {
    if (root) await root.stop()
    if (uid >= 0) await cleanupUser(uid, sub)
    await rm(`/tmp/brbench-run-${uid}`, { recursive: true, force: true })
    await rm(runDir, { recursive: true, force: true })
  }
}

await main()
