// Interactive use in a real terminal (tmux): `run -it`, Ctrl+p Ctrl+q, `attach`, `exec -it`
// and window resizes, through the stock docker CLI and through berth, against berthd.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Term } from './term.ts'
import { berthBin, docker, dockerBin, importBusybox, startBerthd, type Berthd } from './harness.ts'

/** busybox sh's prompt, as capture-pane shows it (trailing blanks trimmed). */
const PROMPT = /^\/ #$/
/** bash's prompt, back after the client exits (maybe after the container's own prompt). */
const SHELL = /\$$/

let d: Berthd
let cfgDir: string

before(async () => {
  d = await startBerthd()
  await importBusybox(d)
  cfgDir = await mkdtemp('/tmp/bt-cfg-')
})

after(async () => {
  await d?.stop()
  if (cfgDir) await rm(cfgDir, { recursive: true, force: true })
})

async function status(name: string): Promise<string> {
  const r = await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name], {
    host: d,
  })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.trim()
}

/** The whole session, for a client: `cli` is the command name typed in the terminal. */
function interactiveSuite(cli: string, clientEnv: () => Promise<Record<string, string>>): void {
  let t: Term
  const name = `${cli}-it`

  before(async () => {
    t = await Term.start(
      await clientEnv(),
      cli === 'berth' ? `berth() { ${process.execPath} ${berthBin} "$@"; }` : 'true',
    )
  })
  after(async () => {
    await t?.stop()
  })

  test('run -it: a shell answers, then Ctrl+p Ctrl+q leaves it running', async () => {
    await t.line(`${cli} run -it --name ${name} busybox sh`)
    await t.waitLast(PROMPT)
    await t.line('echo hi$((1+1))')
    await t.waitFor(/^hi2\r?$/m)
    await t.line('stty size')
    await t.waitFor(/^30 100\r?$/m)
    await t.keys('C-p', 'C-q')
    await t.waitLast(SHELL)
    await t.line('echo "run=$?"')
    // run says nothing on detach and exits 0.
    await t.waitFor(/^run=0$/m)
    assert.equal(await status(name), 'running 0')
  })

  test('attach, then Ctrl+p Ctrl+q: "read escape sequence", exit 1, still running', async () => {
    await t.line(`${cli} attach ${name}`)
    await t.waitLast(PROMPT)
    await t.keys('C-p', 'C-q')
    await t.waitFor(/read escape sequence/)
    await t.line('echo "attach=$?"')
    await t.waitFor(/^attach=1$/m)
    assert.equal(await status(name), 'running 0')
  })

  test('exec -it: stty size follows the window', async () => {
    await t.line(`${cli} exec -it ${name} sh`)
    await t.waitLast(PROMPT)
    await t.line('stty size')
    await t.waitFor(/^30 100\r?$/m)
    await t.resize(80, 20)
    await t.line('stty size')
    await t.waitFor(/^20 80\r?$/m)
    await t.resize(100, 30)
    await t.line('exit 5')
    await t.waitLast(SHELL)
    await t.line('echo "exec=$?"')
    await t.waitFor(/^exec=5$/m)
  })

  test('attach, then exit: the container exits 0', async () => {
    await t.line(`${cli} attach ${name}`)
    await t.waitLast(PROMPT)
    await t.line('exit')
    await t.waitLast(SHELL)
    await t.line('echo "attach2=$?"')
    await t.waitFor(/^attach2=0$/m)
    assert.equal(await status(name), 'exited 0')
  })

  test('start, then exec -it; a stopped -it container comes back with start -ai', async () => {
    const c = `${name}-2`
    await t.line(`${cli} create -it --name ${c} busybox sh; echo created`)
    await t.waitFor(/^created$/m)
    await t.line(`${cli} start -ai ${c}`)
    await t.waitLast(PROMPT)
    await t.line('echo started-ai')
    await t.waitFor(/^started-ai\r?$/m)
    await t.keys('C-p', 'C-q')
    await t.waitLast(SHELL)
    await t.line('echo "start=$?"')
    await t.waitFor(/^start=0$/m)
    await t.line(`${cli} exec -it ${c} sh -c 'stty size; echo from-exec'`)
    await t.waitFor(/^from-exec\r?$/m)
    assert.match(await t.screen(), /^30 100\r?$/m)
  })
}

describe('the stock docker CLI in a terminal', () => {
  interactiveSuite('docker', async () => ({
    DOCKER_HOST: `unix://${d.socket}`,
    DOCKER_CONFIG: cfgDir,
    DOCKER_CLI_HINTS: 'false',
    HOME: cfgDir,
    PATH: `${(await dockerBin()).replace(/\/docker$/, '')}:${process.env.PATH ?? ''}`,
  }))
})

describe('berth in a terminal', () => {
  interactiveSuite('berth', async () => ({
    BERTH_HOST: `unix://${d.socket}`,
    BERTH_CONFIG: join(cfgDir, 'berth'),
    HOME: cfgDir,
  }))

  test('detachKeys from the client config file', async () => {
    const dir = join(cfgDir, 'keys')
    await rm(dir, { recursive: true, force: true })
    await import('node:fs/promises').then((fs) => fs.mkdir(dir))
    await writeFile(join(dir, 'config.json'), JSON.stringify({ detachKeys: 'ctrl-x,x' }))
    const t = await Term.start(
      { BERTH_HOST: `unix://${d.socket}`, BERTH_CONFIG: dir, HOME: cfgDir },
      `berth() { ${process.execPath} ${berthBin} "$@"; }`,
    )
    try {
      await t.line('berth run -it --name keys-it busybox sh')
      await t.waitLast(PROMPT)
      // ctrl-p ctrl-q are ordinary keys now; the configured ctrl-x x detaches.
      await t.keys('C-p', 'C-q')
      await t.line('echo still-in')
      await t.waitFor(/^still-in\r?$/m)
      await t.keys('C-x', 'x')
      await t.waitLast(SHELL)
      await t.line('echo "keys=$?"')
      await t.waitFor(/^keys=0$/m)
      assert.equal(await status('keys-it'), 'running 0')
    } finally {
      await t.stop()
    }
  })
})
