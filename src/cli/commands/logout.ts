import type { CommandDef } from '../command.ts'
import { err, out } from '../command.ts'
import { configDir, CredentialsError, CredentialStore, INDEX_SERVER } from '../credentials.ts'

export const command: CommandDef = {
  usage: '[SERVER]',
  short:
    'Log out from a registry.\nIf no server is specified, the default is defined by the daemon.',
  args: { max: 1 },
  flags: [],
  async run(ctx, f) {
    const given = f.args[0] ?? ''
    const server =
      given === '' || given === 'docker.io'
        ? INDEX_SERVER
        : given.replace(/^https?:\/\//, '').split('/')[0]!
    out(`Removing login credentials for ${server}\n`)
    const store = new CredentialStore(configDir(ctx.config || undefined))
    try {
      await store.erase(server)
    } catch (e) {
      if (!(e instanceof CredentialsError)) throw e
      err(`WARNING: could not erase credentials:\n${server}: ${e.message}\n`)
    }
    return 0
  },
}
