// Credentials as the docker CLI keeps them: config.json, and a real docker-credential-* helper
// program (a small Node script that files secrets in a folder) found on PATH.
import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  configDir,
  CredentialStore,
  credentialsKey,
  encodeAuthHeader,
  INDEX_SERVER,
} from './credentials.ts'

const HELPER = `#!/usr/bin/env node
// docker-credential-berthtest: the docker-credential-helpers protocol over files in $CREDS_DIR.
const fs = require('node:fs'), path = require('node:path')
const dir = process.env.CREDS_DIR
let input = ''
process.stdin.on('data', (c) => (input += c))
process.stdin.on('end', () => {
  const file = (url) => path.join(dir, Buffer.from(url).toString('hex'))
  const action = process.argv[2]
  fs.appendFileSync(path.join(dir, 'log'), action + ' ' + input.trim() + '\\n')
  if (action === 'store') {
    const c = JSON.parse(input)
    fs.writeFileSync(file(c.ServerURL), JSON.stringify(c))
  } else if (action === 'get' || action === 'erase') {
    const url = input.trim()
    if (!fs.existsSync(file(url))) {
      process.stdout.write('credentials not found in native keychain\\n')
      process.exit(1)
    }
    if (action === 'get') process.stdout.write(fs.readFileSync(file(url)))
    else fs.rmSync(file(url))
  } else process.exit(2)
})
`

describe('CLI credentials', () => {
  let dir: string
  let env: NodeJS.ProcessEnv
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-creds-'))
    await mkdir(join(dir, 'bin'))
    await mkdir(join(dir, 'secrets'))
    await writeFile(join(dir, 'bin', 'docker-credential-berthtest'), HELPER)
    await chmod(join(dir, 'bin', 'docker-credential-berthtest'), 0o755)
    env = {
      ...process.env,
      PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      CREDS_DIR: join(dir, 'secrets'),
    }
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('the config folder: --config, DOCKER_CONFIG, ~/.docker', () => {
    assert.equal(configDir('/x', { DOCKER_CONFIG: '/y', HOME: '/h' }), '/x')
    assert.equal(configDir('', { DOCKER_CONFIG: '/y', HOME: '/h' }), '/y')
    assert.equal(configDir(undefined, { HOME: '/h' }), '/h/.docker')
  })

  test('Docker Hub is filed under its v1 URL, others under host:port', () => {
    assert.equal(credentialsKey('docker.io'), INDEX_SERVER)
    assert.equal(credentialsKey('localhost:5000'), 'localhost:5000')
  })

  test('X-Registry-Auth is padded base64url of the JSON, without empty fields', () => {
    const h = encodeAuthHeader({ username: 'a?', password: 'b>', email: '', serveraddress: 'r' })
    assert.match(h, /^[A-Za-z0-9_-]+=*$/)
    assert.equal(h.length % 4, 0)
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), {
      username: 'a?',
      password: 'b>',
      serveraddress: 'r',
    })
  })

  test('config.json: stored as base64 user:password, read back, kept 0600 with other keys', async () => {
    const cdir = join(dir, 'plain')
    await mkdir(cdir)
    await writeFile(join(cdir, 'config.json'), JSON.stringify({ psFormat: '{{.ID}}' }))
    const store = new CredentialStore(cdir, env)
    assert.deepEqual(await store.get('localhost:5000'), { serveraddress: 'localhost:5000' })
    assert.equal(
      await store.store('localhost:5000', { username: 'alice', password: 'pw:1' }),
      join(cdir, 'config.json'),
    )
    const cfg = JSON.parse(await readFile(join(cdir, 'config.json'), 'utf8'))
    assert.deepEqual(cfg, {
      psFormat: '{{.ID}}',
      auths: { 'localhost:5000': { auth: Buffer.from('alice:pw:1').toString('base64') } },
    })
    assert.equal((await stat(join(cdir, 'config.json'))).mode & 0o777, 0o600)
    assert.deepEqual(await store.get('localhost:5000'), {
      serveraddress: 'localhost:5000',
      username: 'alice',
      password: 'pw:1',
    })
    // An identity token replaces the password.
    await store.store('docker.io', { username: 'bob', password: 'x', identitytoken: 'rt' })
    assert.deepEqual(await store.get('docker.io'), {
      serveraddress: INDEX_SERVER,
      username: 'bob',
      password: '',
      identitytoken: 'rt',
    })
    assert.equal(await store.erase('localhost:5000'), true)
    assert.equal(await store.erase('localhost:5000'), false)
    assert.deepEqual(await store.get('localhost:5000'), { serveraddress: 'localhost:5000' })
  })

  test('legacy keys with a scheme and path still match their host', async () => {
    const cdir = join(dir, 'legacy')
    await mkdir(cdir)
    const auth = Buffer.from('u:p').toString('base64')
    await writeFile(
      join(cdir, 'config.json'),
      JSON.stringify({ auths: { 'https://reg.example:5000/v1/': { auth } } }),
    )
    const got = await new CredentialStore(cdir, env).get('reg.example:5000')
    assert.equal(got.username, 'u')
    assert.equal(got.password, 'p')
  })

  test('credsStore: the helper keeps the secret; config.json only lists the registry', async () => {
    const cdir = join(dir, 'helper')
    await mkdir(cdir)
    await writeFile(join(cdir, 'config.json'), JSON.stringify({ credsStore: 'berthtest' }))
    const store = new CredentialStore(cdir, env)
    assert.deepEqual(await store.get('localhost:5000'), { serveraddress: 'localhost:5000' })
    assert.equal(
      await store.store('localhost:5000', { username: 'carol', password: 'secret' }),
      'helper',
    )
    const cfg = JSON.parse(await readFile(join(cdir, 'config.json'), 'utf8'))
    assert.deepEqual(cfg, { credsStore: 'berthtest', auths: { 'localhost:5000': {} } })
    assert.doesNotMatch(await readFile(join(cdir, 'config.json'), 'utf8'), /secret/)
    assert.deepEqual(await store.get('localhost:5000'), {
      serveraddress: 'localhost:5000',
      username: 'carol',
      password: 'secret',
    })
    await store.store('localhost:5001', { username: 'carol', identitytoken: 'tok' })
    assert.deepEqual(await store.get('localhost:5001'), {
      serveraddress: 'localhost:5001',
      identitytoken: 'tok',
    })
    assert.equal(await store.erase('localhost:5000'), true)
    assert.deepEqual(await store.get('localhost:5000'), { serveraddress: 'localhost:5000' })
    const log = await readFile(join(dir, 'secrets', 'log'), 'utf8')
    assert.match(
      log,
      /^store \{"ServerURL":"localhost:5000","Username":"carol","Secret":"secret"\}$/m,
    )
    assert.match(
      log,
      /^store \{"ServerURL":"localhost:5001","Username":"<token>","Secret":"tok"\}$/m,
    )
  })

  test('credHelpers picks a helper per registry; a missing helper is an error in Docker’s words', async () => {
    const cdir = join(dir, 'per-host')
    await mkdir(cdir)
    await writeFile(
      join(cdir, 'config.json'),
      JSON.stringify({ credHelpers: { 'a.example': 'berthtest', 'b.example': 'nosuch' } }),
    )
    const store = new CredentialStore(cdir, env)
    await store.store('a.example', { username: 'u', password: 'p' })
    assert.equal((await store.get('a.example')).password, 'p')
    // c.example has no helper: the file.
    assert.equal(
      await store.store('c.example', { username: 'u', password: 'q' }),
      join(cdir, 'config.json'),
    )
    await assert.rejects(store.get('b.example'), {
      message:
        'error getting credentials - err: exec: "docker-credential-nosuch": executable file not found in $PATH',
    })
  })
})
