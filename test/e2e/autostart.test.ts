// A new user's first command: `berth` finds no daemon on the default socket and starts
// berthd itself. The test runs in a private mount namespace whose /run, /var/lib and
// /var/log are fresh tmpfs mounts, so the default paths are used without touching the host's,
// and in a network namespace of its own: the container's default bridge (netavark) would
// otherwise leave its shared chains in the host's iptables.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { berthdNodeFlags } from '../../src/lib/berthd-flags.ts'
import { berthBin, berthdBin, busyboxTar, removeTree } from './harness.ts'

function runInPrivateMounts(
  script: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', '--net', 'sh', '-ec', script],
      {
        env: { ...process.env, BERTH_HOST: '', DOCKER_HOST: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout, stderr })
    })
  })
}

test('berth starts berthd itself when no daemon answers on the default socket', async () => {
  const tar = await busyboxTar()
  const berth = `${process.execPath} ${berthBin}`
  const r = await runInPrivateMounts(`
    for d in /run /var/lib /var/log; do mount -t tmpfs tmpfs "$d"; done
    ip link set lo up
    ${berth} import ${tar} busybox >/dev/null
    ${berth} run --rm busybox echo hello from berth
    ${berth} images --format '{{.Repository}}:{{.Tag}}'
    test -S /run/berth/berth.sock && echo socket-present
    pid="$(cat /var/lib/berth/berthd.lock)"
    tr '\\0' ' ' < "/proc/$pid/cmdline"; echo
    kill "$pid"
  `)
  assert.equal(r.code, 0, r.stderr)
  const [images, cmdline] = r.stdout.split('socket-present\n')
  assert.equal(images, 'hello from berth\nbusybox:latest\n')
  // berthd's node flags (V8 takes them only at start) come before its script.
  const argv = cmdline!.trim().split(' ')
  assert.deepEqual(argv.slice(1, 2 + berthdNodeFlags.length), [...berthdNodeFlags, berthdBin])
  // Said once, by the first command; the later ones found the daemon it started.
  const notices = r.stderr.split('\n').filter((l) => l.includes('starting berthd'))
  assert.deepEqual(notices, ['berth: no daemon at /run/berth/berth.sock, starting berthd'])
})

test('berthd started by its path runs node with its flags (the #! line)', async () => {
  const dir = await mkdtemp('/tmp/bt-flags-')
  try {
    // A module node loads before berthd's own, to say which flags node was started with.
    const probe = join(dir, 'probe.cjs')
    await writeFile(probe, 'process.stderr.write(JSON.stringify(process.execArgv) + "\\n")\n')
    const { stdout, stderr } = await promisify(execFile)(berthdBin, ['--help'], {
      env: { ...process.env, NODE_OPTIONS: `--require ${probe}` },
    })
    assert.match(stdout, /^Usage:\s+berthd/)
    assert.deepEqual(JSON.parse(stderr.split('\n')[0]!), [...berthdNodeFlags])
  } finally {
    await removeTree(dir)
  }
})
