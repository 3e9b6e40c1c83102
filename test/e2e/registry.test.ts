// Registries end to end: a real berthd driven by the stock docker CLI, by berth and by raw API
// requests, against Debian's reference registry in its plain, htpasswd, token and TLS set-ups and
// behind the fault proxy. Push, pull, run of a missing image, login and logout, with Docker's
// output and words.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startFaultProxy, type FaultProxy } from '../registry/faults.ts'
import { makePki, makeSigningKey } from '../registry/pki.ts'
import { hostAddress, startRegistry, type RegistryServer } from '../registry/server.ts'
import { startTokenIssuer, type TokenIssuer } from '../registry/tokens.ts'
import {
  apiRequest,
  berth,
  docker,
  importBusybox,
  startBerthd,
  type Berthd,
  type RunResult,
} from './harness.ts'

let d: Berthd
let work: string
let plain: RegistryServer
let basic: RegistryServer
let tokens: TokenIssuer
let tokenReg: RegistryServer
let tlsHost: RegistryServer
let insecureHost: RegistryServer
let proxy: FaultProxy

/** A docker config dir of the test's own, so logins do not leak between tests. */
async function configDir(): Promise<string> {
  return mkdtemp(join(work, 'cfg-'))
}

const host = (env: Record<string, string> = {}) => ({ host: d, env })

async function ok(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await docker(args, host(env))
  assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  return r
}

/** stdout without the lines that depend on timing (bars are never printed without a TTY). */
function lines(r: RunResult): string[] {
  return r.stdout.split('\n').filter(Boolean)
}

before(async () => {
  work = await mkdtemp('/tmp/bt-reg-')
  const addr = hostAddress()
  const pki = await makePki(work, [addr])
  const signing = await makeSigningKey(work)
  tokens = await startTokenIssuer(signing, { users: { alice: 'secret' } })
  ;[plain, basic, tokenReg, tlsHost, insecureHost] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { alice: 'secret' } }),
    startRegistry({ token: { realm: tokens.realm, rootCert: signing.cert } }),
    startRegistry({ host: addr, tls: { cert: pki.serverCert, key: pki.serverKey } }),
    startRegistry({ host: addr }),
  ])
  proxy = await startFaultProxy(plain.url)
  // The TLS registry's CA where Docker would look for it (certs.d/HOST:PORT/ca.crt); the plain
  // registry on the host's address is insecure only because daemon.json says so.
  const certs = join(work, 'certs.d')
  await mkdir(join(certs, tlsHost.name), { recursive: true })
  await copyFile(pki.caCert, join(certs, tlsHost.name, 'ca.crt'))
  const daemonJson = join(work, 'daemon.json')
  await writeFile(daemonJson, JSON.stringify({ 'insecure-registries': [insecureHost.name] }))
  // berthd on the host's network: it reaches the registries the test runs on the host
  d = await startBerthd({
    args: ['--registry-certs', certs, '--config-file', daemonJson],
    network: 'inherit',
  })
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  await proxy?.stop()
  await Promise.all([plain, basic, tokenReg, tlsHost, insecureHost].map((r) => r?.stop()))
  await tokens?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

describe('push and pull with the docker CLI', () => {
  test('push, remove, pull and run again, with Docker output', async () => {
    const ref = `${plain.name}/tests/busybox:1`
    await ok(['tag', 'busybox', ref])
    const push = await ok(['push', ref])
    const out = lines(push)
    assert.equal(out[0], `The push refers to repository [${ref.replace(/:1$/, '')}]`)
    assert.match(out[1]!, /^[0-9a-f]{12}: Preparing$/)
    assert.match(out[2]!, /^[0-9a-f]{12}: Pushed$/)
    assert.match(out[3]!, /^1: digest: sha256:[0-9a-f]{64} size: [0-9]+$/)
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out[3]!)![1]
    // RepoDigests now name the pushed manifest.
    const inspect = await ok(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref])
    assert.deepEqual(JSON.parse(inspect.stdout), [`${plain.name}/tests/busybox@${digest}`])

    await ok(['rmi', ref, 'busybox'])
    const pull = await ok(['pull', ref])
    const pl = lines(pull)
    assert.equal(pl[0], '1: Pulling from tests/busybox')
    const layer = /^([0-9a-f]{12}): Pulling fs layer$/.exec(pl[1]!)![1]
    assert.ok(pl.includes(`${layer}: Download complete`), pl.join('\n'))
    assert.ok(pl.includes(`${layer}: Pull complete`), pl.join('\n'))
    assert.deepEqual(pl.slice(-3), [
      `Digest: ${digest}`,
      `Status: Downloaded newer image for ${ref}`,
      ref,
    ])
    const again = await ok(['pull', ref])
    assert.deepEqual(lines(again), [
      '1: Pulling from tests/busybox',
      `Digest: ${digest}`,
      `Status: Image is up to date for ${ref}`,
      ref,
    ])
    const run = await ok(['run', '--network', 'none', '--rm', ref, 'echo', 'pulled and running'])
    assert.equal(run.stdout, 'pulled and running\n')
    await ok(['tag', ref, 'busybox'])
  })

  test('run and create of a missing image pull it first; --pull never and always', async () => {
    const ref = `${plain.name}/tests/runme`
    await ok(['tag', 'busybox', `${ref}:latest`])
    await ok(['push', ref])
    await ok(['rmi', `${ref}:latest`])
    const r = await ok(['run', '--network', 'none', '--rm', ref, 'echo', 'from a pull'])
    assert.equal(r.stdout, 'from a pull\n')
    const err = r.stderr.split('\n').filter(Boolean)
    assert.equal(err[0], `Unable to find image '${ref}:latest' locally`)
    assert.equal(err[1], 'latest: Pulling from tests/runme')
    assert.equal(err.at(-1), `Status: Downloaded newer image for ${ref}:latest`)

    await ok(['rmi', `${ref}:latest`])
    const never = await docker(
      ['run', '--network', 'none', '--rm', '--pull', 'never', ref, 'true'],
      host(),
    )
    assert.equal(never.code, 125)
    assert.match(never.stderr, new RegExp(`No such image: ${ref.replace(/\./g, '\\.')}:latest`))
    const created = await ok(['create', '--network', 'none', '--name', 'made-by-pull', ref, 'true'])
    assert.match(created.stderr, /^Unable to find image '.*:latest' locally\n/)
    assert.match(created.stdout, /^[0-9a-f]{64}\n$/)
    await ok(['rm', 'made-by-pull'])
    const always = await ok(['run', '--network', 'none', '--rm', '--pull', 'always', ref, 'true'])
    assert.match(always.stderr, /Status: Image is up to date for/)

    // And berth does the same.
    await ok(['rmi', `${ref}:latest`])
    const b = await berth(['run', '--network', 'none', '--rm', ref, 'echo', 'berth pulled'], host())
    assert.equal(b.code, 0, b.stderr)
    assert.equal(b.stdout, 'berth pulled\n')
    assert.equal(b.stderr.split('\n')[0], `Unable to find image '${ref}:latest' locally`)
  })

  test("unknown images, bad references and unreachable registries: Docker's words and statuses", async () => {
    const missing = await docker(['pull', `${plain.name}/tests/busybox:nope`], host())
    assert.equal(missing.code, 1)
    assert.equal(
      missing.stderr,
      `Error response from daemon: manifest for ${plain.name}/tests/busybox:nope not found: manifest unknown: manifest unknown\n`,
    )
    const api = await apiRequest(
      d,
      'POST',
      `/images/create?fromImage=${plain.name}/tests/busybox&tag=nope`,
    )
    assert.equal(api.status, 404)
    const bad = await apiRequest(d, 'POST', '/images/create?fromImage=UPPER/Case::x')
    assert.equal(bad.status, 400)
    assert.match(JSON.parse(bad.body).message, /^invalid reference format/)
    const gone = await apiRequest(d, 'POST', '/images/create?fromImage=127.0.0.1:1/x&tag=1')
    assert.equal(gone.status, 500)
    assert.equal(
      JSON.parse(gone.body).message,
      'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
    )
    const notHere = await docker(['push', `${plain.name}/tests/not-here:1`], host())
    assert.equal(notHere.code, 1)
    assert.equal(
      notHere.stderr,
      `An image does not exist locally with the tag: ${plain.name}/tests/not-here\n`,
    )
  })

  test('-a pushes and pulls every tag; -q prints the reference only', async () => {
    const repo = `${plain.name}/tests/alltags`
    await ok(['tag', 'busybox', `${repo}:a`])
    await ok(['tag', 'busybox', `${repo}:b`])
    const push = await ok(['push', '-a', repo])
    assert.deepEqual(
      lines(push)
        .filter((l) => / digest: /.test(l))
        .map((l) => l.split(':')[0]),
      ['a', 'b'],
    )
    await ok(['rmi', `${repo}:a`, `${repo}:b`])
    const pull = await ok(['pull', '-a', repo])
    assert.equal(lines(pull).at(-2), `Status: Downloaded newer image for ${repo}`)
    const tags = await ok(['images', '--format', '{{.Tag}}', repo])
    assert.deepEqual(lines(tags).sort(), ['a', 'b'])
    const q = await ok(['pull', '-q', `${repo}:a`])
    assert.equal(q.stdout, `${repo}:a\n`)
  })

  test('berth pull and push print what the docker CLI prints', async () => {
    const ref = `${plain.name}/tests/berthcli:1`
    await ok(['tag', 'busybox', ref])
    const b = await berth(['push', ref], host())
    assert.equal(b.code, 0, b.stderr)
    const dk = await ok(['push', ref])
    // berth's push came first (the layer mounted from another repository), docker's second.
    const layerDone = (l: string) =>
      l.replace(/: (Pushed|Mounted from .*|Layer already exists)$/, ': (layer there)')
    assert.deepEqual(lines(b).map(layerDone), lines(dk).map(layerDone))
    await ok(['rmi', ref])
    const bp = await berth(['pull', ref], host())
    assert.equal(bp.code, 0, bp.stderr)
    const dp = await ok(['pull', ref])
    assert.deepEqual(
      lines(dp).filter(
        (l) => !/Pull|Download|Verifying|fs layer|Already/.test(l) || /Pulling from/.test(l),
      ),
      [
        '1: Pulling from tests/berthcli',
        lines(bp).at(-3)!,
        `Status: Image is up to date for ${ref}`,
        ref,
      ],
    )
    assert.equal(lines(bp).at(-2), `Status: Downloaded newer image for ${ref}`)
    assert.equal(lines(bp).at(-1), ref)
    const bad = await berth(['pull', `${plain.name}/tests/berthcli:nope`], host())
    assert.equal(bad.code, 1)
    assert.equal(
      bad.stderr,
      `Error response from daemon: manifest for ${plain.name}/tests/berthcli:nope not found: manifest unknown: manifest unknown\n`,
    )
  })
})

describe('credentials', () => {
  test('htpasswd: refused without login; docker login, push, pull, logout', async () => {
    const cfg = await configDir()
    const env = { DOCKER_CONFIG: cfg }
    const ref = `${basic.name}/private/img:1`
    await ok(['tag', 'busybox', ref])
    const denied = await docker(['push', ref], host(env))
    assert.equal(denied.code, 1)
    assert.equal(denied.stderr, 'no basic auth credentials\n')
    const pullDenied = await docker(['pull', ref], host(env))
    assert.equal(pullDenied.code, 1)
    assert.equal(
      pullDenied.stderr,
      `Error response from daemon: Head "http://${basic.name}/v2/private/img/manifests/1": no basic auth credentials\n`,
    )
    const wrong = await docker(['login', '-u', 'alice', '--password-stdin', basic.name], {
      ...host(env),
      input: 'nope\n',
    })
    assert.equal(wrong.code, 1)
    assert.equal(
      wrong.stderr,
      `Error response from daemon: login attempt to http://${basic.name}/v2/ failed with status: 401 Unauthorized\n`,
    )
    const login = await docker(['login', '-u', 'alice', '--password-stdin', basic.name], {
      ...host(env),
      input: 'secret\n',
    })
    assert.equal(login.code, 0, login.stderr)
    assert.equal(login.stdout, 'Login Succeeded\n')
    const saved = JSON.parse(await readFile(join(cfg, 'config.json'), 'utf8'))
    assert.deepEqual(saved.auths[basic.name], {
      auth: Buffer.from('alice:secret').toString('base64'),
    })
    await ok(['push', ref], env)
    await ok(['rmi', ref], env)
    await ok(['pull', ref], env)
    const out = await ok(['logout', basic.name], env)
    assert.equal(out.stdout, `Removing login credentials for ${basic.name}\n`)
    assert.deepEqual(JSON.parse(await readFile(join(cfg, 'config.json'), 'utf8')).auths, {})
  })

  test('berth login and logout keep credentials as the docker CLI does', async () => {
    const cfg = await configDir()
    const p = await berth(
      ['--config', cfg, 'login', '-u', 'alice', '-p', 'secret', basic.name],
      host(),
    )
    assert.equal(p.code, 0, p.stderr)
    assert.equal(p.stdout, 'Login Succeeded\n')
    assert.equal(
      p.stderr,
      'WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n' +
        `\nWARNING! Your credentials are stored unencrypted in '${join(cfg, 'config.json')}'.\n` +
        'Configure a credential helper to remove this warning. See\n' +
        'https://docs.docker.com/go/credential-store/\n\n',
    )
    // The docker CLI reads what berth wrote, and the other way round.
    const ref = `${basic.name}/private/berth:1`
    await ok(['tag', 'busybox', ref])
    await ok(['push', ref], { DOCKER_CONFIG: cfg })
    await ok(['rmi', ref])
    const pull = await berth(['--config', cfg, 'pull', ref], host())
    assert.equal(pull.code, 0, pull.stderr)
    const again = await berth(['--config', cfg, 'login', basic.name], host())
    assert.equal(again.code, 0, again.stderr)
    assert.match(
      again.stderr,
      /^Authenticating with existing credentials\.\.\. \[Username: alice\]\n/,
    )
    const stdinNoUser = await berth(['--config', cfg, 'login', '--password-stdin', basic.name], {
      ...host(),
      input: 'x',
    })
    assert.equal(stdinNoUser.stderr, 'the --password-stdin option requires --username to be set\n')
    const out = await berth(['--config', cfg, 'logout', basic.name], host())
    assert.equal(out.stdout, `Removing login credentials for ${basic.name}\n`)
    const noTty = await berth(['--config', cfg, 'login', basic.name], host())
    assert.equal(noTty.code, 1)
    assert.equal(noTty.stderr, 'Error: Cannot perform an interactive login from a non TTY device\n')
  })

  test('token auth: anonymous pulls of public repositories, login for the rest', async () => {
    const cfg = await configDir()
    const env = { DOCKER_CONFIG: cfg }
    const pub = `${tokenReg.name}/public/img:1`
    await ok(['tag', 'busybox', pub])
    const denied = await docker(['push', pub], host(env))
    assert.equal(denied.code, 1)
    assert.match(
      denied.stderr,
      /^denied: requested access to the resource is denied\n$|unauthorized/,
    )
    const login = await docker(['login', '-u', 'alice', '--password-stdin', tokenReg.name], {
      ...host(env),
      input: 'secret',
    })
    assert.equal(login.code, 0, login.stderr)
    await ok(['push', pub], env)
    await ok(['rmi', pub])
    // No credentials: pull is granted on public/ only.
    await ok(['pull', pub])
    const priv = `${tokenReg.name}/team/img:1`
    await ok(['tag', 'busybox', priv])
    await ok(['push', priv], env)
    await ok(['rmi', priv])
    const anon = await docker(['pull', priv], host())
    assert.equal(anon.code, 1)
    assert.match(
      anon.stderr,
      /Error response from daemon: (pull access denied|.*authentication required|.*denied)/,
    )
    await ok(['pull', priv], env)
  })
})

describe('TLS and insecure registries', () => {
  test("a registry on the host's address: TLS checked with certs.d's CA", async () => {
    const ref = `${tlsHost.name}/tls/img:1`
    await ok(['tag', 'busybox', ref])
    await ok(['push', ref])
    await ok(['rmi', ref])
    await ok(['pull', ref])
  })

  test('plain HTTP off loopback only for a registry daemon.json or --insecure-registry names', async () => {
    const ref = `${insecureHost.name}/plain/img:1`
    await ok(['tag', 'busybox', ref])
    await ok(['push', ref])
    await ok(['rmi', ref])
    await ok(['pull', ref])
    // The same registry, not named insecure: berthd insists on TLS, as Docker does.
    const strict = await startBerthd({ network: 'inherit' })
    try {
      const r = await apiRequest(
        strict,
        'POST',
        `/images/create?fromImage=${insecureHost.name}/plain/img&tag=1`,
      )
      assert.equal(r.status, 500)
      assert.equal(
        JSON.parse(r.body).message,
        `Get "https://${insecureHost.name}/v2/": http: server gave HTTP response to HTTPS client`,
      )
      const t = await apiRequest(
        strict,
        'POST',
        `/images/create?fromImage=${tlsHost.name}/tls/img&tag=1`,
      )
      assert.equal(t.status, 500)
      assert.match(JSON.parse(t.body).message, /x509: certificate signed by unknown authority/)
    } finally {
      await strict.stop()
    }
    // --insecure-registry on the command line, here as a CIDR holding the registry's address.
    const flagged = await startBerthd({
      args: ['--insecure-registry', `${insecureHost.name.split(':')[0]}/32`],
      network: 'inherit',
    })
    try {
      const r = await docker(['pull', ref], { host: flagged })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`Status: Downloaded newer image for ${ref}`))
    } finally {
      await flagged.stop()
    }
  })
})

describe('through the fault proxy', () => {
  test('a 500 and a dropped connection are recovered; a corrupt layer fails and leaves nothing', async () => {
    // A layer of its own (random bytes), so no blob of it is here when it is pulled back.
    const ref = `${proxy.name}/faults/img:1`
    await ok([
      'run',
      '--network',
      'none',
      '--name',
      'faults-src',
      'busybox',
      'sh',
      '-c',
      'head -c 600000 /dev/urandom > /big',
    ])
    await ok(['commit', 'faults-src', ref])
    await ok(['rm', 'faults-src'])
    await ok(['push', ref])
    await ok(['rmi', ref])
    const manifest = (await (
      await fetch(`${plain.url}/v2/faults/img/manifests/1`, {
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      })
    ).json()) as { layers: { digest: string; size: number }[] }
    const layer = manifest.layers[1]!
    assert.ok(layer.size > 200_000, `a layer big enough to cut: ${layer.size}`)
    proxy.clear()
    proxy.add({ method: 'GET', path: /\/blobs\//, fault: { kind: 'status', status: 500 } })
    proxy.add({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}`),
      fault: { kind: 'drop', after: 100_000 },
    })
    await ok(['pull', ref])
    await ok(['rmi', ref])
    const resumed = proxy.requests.find(
      (q) => q.method === 'GET' && q.path.includes(layer.digest) && q.headers.range,
    )
    assert.equal(resumed?.headers.range, 'bytes=100000-', 'the dropped layer was resumed')

    proxy.clear()
    proxy.add({
      method: 'GET',
      path: /\/blobs\/sha256/,
      times: Infinity,
      fault: { kind: 'corrupt', at: 5000 },
    })
    const r = await docker(['pull', ref], host())
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /^filesystem layer verification failed for digest sha256:[0-9a-f]{64}\n$/,
    )
    const images = await ok(['images', '--format', '{{.Repository}}:{{.Tag}}'])
    assert.ok(!images.stdout.includes(`${proxy.name}/faults/img`), images.stdout)
    proxy.clear()
  })
})
