// A new user's first command: `berth` finds no daemon on the default socket and starts
// berthd itself. The test runs in a private mount namespace whose /run, /var/lib and
// /var/log are fresh tmpfs mounts, so the default paths are used without touching the host's,
// and in a network namespace of its own: the container's default bridge (netavark) would
// otherwise leave its shared chains in the host's iptables.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { berthBin, busyboxTar } from './harness.ts'

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
    kill "$(cat /var/lib/berth/berthd.lock)"
  `)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'hello from berth\nbusybox:latest\nsocket-present\n')
  // Said once, by the first command; the later ones found the daemon it started.
  const notices = r.stderr.split('\n').filter((l) => l.includes('starting berthd'))
  assert.deepEqual(notices, ['berth: no daemon at /run/berth/berth.sock, starting berthd'])
})
