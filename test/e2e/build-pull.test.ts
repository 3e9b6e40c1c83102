// FROM of an image that is not here, and --pull, against Debian's registry on loopback: the build
// pulls it with the credentials the client sent (the docker CLI's X-Registry-Config, berth's
// own), and fails in the registry's words without them.
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startRegistry, type RegistryServer } from '../registry/server.ts'
import {
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

const host = (env: Record<string, string> = {}) => ({ host: d, env, timeoutMs: 120_000 })

async function ok(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await docker(args, host(env))
  assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  return r
}

async function context(name: string, dockerfile: string): Promise<string> {
  const c = join(work, name)
  await mkdir(c, { recursive: true })
  await writeFile(join(c, 'Dockerfile'), dockerfile)
  return c
}

/** What a container of the image prints for `cat /r`. */
async function result(image: string): Promise<string> {
  return (await ok(['run', '--rm', '--network', 'none', image, 'cat', '/r'])).stdout
}

before(async () => {
  work = await mkdtemp('/tmp/bt-buildpull-')
  ;[plain, basic] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { alice: 'secret' } }),
  ])
  // berthd on the host's network reaches the registries; RUN steps get --network none, so no
  // bridge is set up on the host.
  d = await startBerthd({ network: 'inherit' })
  await importBusybox(d)
})

after(async () => {
  await d?.stop()
  await Promise.all([plain, basic].map((r) => r?.stop()))
  if (work) await rm(work, { recursive: true, force: true })
})

describe('build: FROM images from a registry', () => {
  test('FROM of a missing image pulls it; the base stays and the build runs on it', async () => {
    const base = `${plain.name}/base/bb:1`
    await ok(['tag', 'busybox', base])
    await ok(['push', base])
    await ok(['rmi', base])
    const c = await context('missing', `FROM ${base}\nRUN echo built-on-pulled > /r\n`)
    const b = await ok(['build', '--network', 'none', '-t', 'pulled:1', c])
    assert.match(b.stdout, new RegExp(`Step 1/2 : FROM ${base.replace(/\./g, '\\.')}\n`))
    assert.match(b.stdout, /1: Pulling from base\/bb\n/)
    assert.match(b.stdout, /Status: Downloaded newer image for /)
    assert.equal(await result('pulled:1'), 'built-on-pulled\n')
    // The pulled base is an image of its own now, as after docker pull.
    await ok(['image', 'inspect', base])
  })

  test('--pull fetches a newer FROM image through the API and berth build; without it the local one is used', async () => {
    const base = `${plain.name}/base/moving:1`
    const newer = await context('newer', 'FROM busybox\nRUN touch /marker\n')
    await ok(['build', '--network', 'none', '-t', base, newer])
    await ok(['push', base])
    // Locally, the tag names the older image (plain busybox).
    await ok(['tag', 'busybox', base])
    const c = await context(
      'moving',
      `FROM ${base}\nRUN if [ -e /marker ]; then echo newer; else echo older; fi > /r\n`,
    )
    await ok(['build', '--network', 'none', '-t', 'moving:local', c])
    assert.equal(await result('moving:local'), 'older\n')
    await ok(['build', '--network', 'none', '--pull', '-t', 'moving:pulled', c])
    assert.equal(await result('moving:pulled'), 'newer\n')

    await ok(['tag', 'busybox', base])
    const bb = await berth(
      ['build', '--progress=plain', '--network', 'none', '--pull', '-t', 'moving:berth', c],
      host(),
    )
    assert.equal(bb.code, 0, bb.stderr)
    assert.equal(await result('moving:berth'), 'newer\n')
  })

  test('a registry that needs a login: the client credentials are used, and without them the build fails', async () => {
    const cfg = await mkdtemp(join(work, 'cfg-'))
    const env = { DOCKER_CONFIG: cfg }
    const login = await docker(['login', '-u', 'alice', '--password-stdin', basic.name], {
      ...host(env),
      input: 'secret\n',
    })
    assert.equal(login.code, 0, login.stderr)
    const base = `${basic.name}/private/bb:1`
    await ok(['tag', 'busybox', base])
    await ok(['push', base], env)
    await ok(['rmi', base])

    const c = await context('private', `FROM ${base}\nRUN echo private-base > /r\n`)
    const anon = await docker(['build', '--network', 'none', c], host())
    assert.equal(anon.code, 1)
    assert.match(anon.stderr, /no basic auth credentials/)
    const anonBerth = await berth(['build', '--progress=plain', '--network', 'none', c], host())
    assert.equal(anonBerth.code, 1)
    assert.match(anonBerth.stderr, /no basic auth credentials/)

    await ok(['build', '--network', 'none', '-t', 'private:docker', c], env)
    assert.equal(await result('private:docker'), 'private-base\n')
    await ok(['rmi', base])
    const bb = await berth(
      ['build', '--progress=plain', '--network', 'none', '-t', 'private:berth', c],
      host(env),
    )
    assert.equal(bb.code, 0, bb.stderr)
    assert.equal(await result('private:berth'), 'private-base\n')
  })
})
