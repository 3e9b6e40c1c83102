// Docker's grammar lives in src/lib, shared with the CLI; in the engine its errors are
// InvalidArgument (400), as a request that does not parse is the caller's to fix.
import { ParseError } from '../lib/errors.ts'
import { InvalidArgument } from './errors.ts'

/** Runs a src/lib parser, turning its ParseError into InvalidArgument with the same words. */
export function parsed<T>(parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof ParseError) throw new InvalidArgument(err.message, { cause: err })
    throw err
  }
}
