import { DaemonError, type Client } from '../client.ts'
import type { CommandDef } from '../command.ts'
import { bool, CliError, err, out, str } from '../command.ts'
import {
  configDir,
  CredentialsError,
  CredentialStore,
  INDEX_SERVER,
  type DockerAuth,
} from '../credentials.ts'

const UNENCRYPTED = (file: string) =>
  `\nWARNING! Your credentials are stored unencrypted in '${file}'.\n` +
  'Configure a credential helper to remove this warning. See\n' +
  'https://docs.docker.com/go/credential-store/\n\n'

/** docker/cli's ConvertToHostname: https://host:5000/v2/ → host:5000. */
function toHostname(address: string): string {
  return address.replace(/^https?:\/\//, '').split('/')[0]!
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

/** One line typed at the terminal, echoed or not. */
function promptLine(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin
    process.stderr.write(question)
    let buf = ''
    const wasRaw = stdin.isRaw
    if (hidden) stdin.setRawMode(true)
    const finish = (value: string | undefined) => {
      stdin.off('data', onData)
      if (hidden) {
        stdin.setRawMode(wasRaw)
        process.stderr.write('\n')
      }
      stdin.pause()
      if (value === undefined) reject(new CliError('', 1))
      else resolve(value)
    }
    const onData = (c: Buffer) => {
      for (const ch of c.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(buf)
        if (ch === '\u0003') return finish(undefined) // Ctrl-C
        if (ch === '\u007f') buf = buf.slice(0, -1)
        else buf += ch
      }
    }
    stdin.on('data', onData)
    stdin.resume()
  })
}

async function authenticate(client: Client, a: DockerAuth) {
  return client.json<{ Status?: string; IdentityToken?: string }>('POST', '/auth', { body: a })
}

export const command: CommandDef = {
  usage: '[OPTIONS] [SERVER]',
  short: 'Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.',
  args: { max: 1 },
  flags: [
    {
      long: 'password',
      short: 'p',
      kind: 'string',
      desc: 'Password or Personal Access Token (PAT)',
    },
    {
      long: 'password-stdin',
      kind: 'bool',
      desc: 'Take the Password or Personal Access Token (PAT) from stdin',
    },
    { long: 'username', short: 'u', kind: 'string', desc: 'Username' },
  ],
  async run(ctx, f) {
    let username = str(f, 'username')
    let password = str(f, 'password')
    if (password !== '') {
      err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n')
      if (bool(f, 'password-stdin')) {
        throw new CliError(
          'conflicting options: cannot specify both --password and --password-stdin',
        )
      }
    }
    if (bool(f, 'password-stdin')) {
      if (username === '')
        throw new CliError('the --password-stdin option requires --username to be set')
      password = await readStdin()
    }
    const given = f.args[0] ?? ''
    const server = given !== '' && given !== 'docker.io' ? toHostname(given) : INDEX_SERVER
    const store = new CredentialStore(configDir(ctx.config || undefined))
    const client = await ctx.client()
    let stored: DockerAuth = {}
    try {
      stored = await store.get(server)
    } catch (e) {
      if (!(e instanceof CredentialsError)) throw e
    }

    // Without -u and -p, the credentials kept for the registry are tried first.
    if (username === '' && password === '' && stored.username && stored.password) {
      err(`Authenticating with existing credentials... [Username: ${stored.username}]\n`)
      try {
        const r = await authenticate(client, { ...stored, serveraddress: server })
        err(
          "\n Info -> To login with a different account, run 'docker logout' followed by 'docker login'\n\n\n",
        )
        out(`${r.Status ?? 'Login Succeeded'}\n`)
        return 0
      } catch (e) {
        if (!(e instanceof DaemonError)) throw e
        err(`Login did not succeed, error: ${e.message}\n`)
      }
    }
    if (username === '' || password === '') {
      if (!process.stdin.isTTY) {
        throw new CliError('Error: Cannot perform an interactive login from a non TTY device')
      }
      if (username === '') {
        const def = stored.username ?? ''
        const typed = (await promptLine(def ? `Username (${def}): ` : 'Username: ', false)).trim()
        username = typed || def
        if (username === '') throw new CliError('Error: Non-null Username Required')
      }
      if (password === '') {
        password = await promptLine('Password: ', true)
        if (password === '') throw new CliError('Error: Password Required')
      }
    }
    const auth: DockerAuth = { username, password, serveraddress: server }
    let r
    try {
      r = await authenticate(client, auth)
    } catch (e) {
      if (e instanceof DaemonError) throw new CliError(e.message)
      throw e
    }
    const keep: DockerAuth = r.IdentityToken
      ? { username, identitytoken: r.IdentityToken, serveraddress: server }
      : auth
    // Unchanged credentials are not written again (nor warned about), as the docker CLI does.
    const same =
      stored.username === keep.username &&
      (stored.password ?? '') === (keep.identitytoken ? '' : (keep.password ?? '')) &&
      (stored.identitytoken ?? '') === (keep.identitytoken ?? '')
    if (!same) {
      let where: string
      try {
        where = await store.store(server, keep)
      } catch (e) {
        if (e instanceof CredentialsError)
          throw new CliError(`Error saving credentials: ${e.message}`)
        throw e
      }
      if (where !== 'helper') err(UNENCRYPTED(where))
    }
    out(`${r.Status ?? 'Login Succeeded'}\n`)
    return 0
  },
}
