// A NAME[:TAG|@DIGEST] argument, parsed with Docker's rules; a bad one is a usage error in
// Docker's words (the CLI's, not a daemon's).
import { CliError } from './command.ts'
import { ParseError } from '../lib/errors.ts'
import { parseNamed, type Reference } from '../lib/reference.ts'

export function namedArg(arg: string): Reference {
  try {
    return parseNamed(arg)
  } catch (e) {
    if (e instanceof ParseError) throw new CliError(e.message)
    throw e
  }
}
