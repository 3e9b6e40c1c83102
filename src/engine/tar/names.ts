// Names in a tar stream, cleaned before anything is made from them (layers, docker cp).
import { InvalidArgument } from '../errors.ts'

const q = (s: string): string => JSON.stringify(s)

function invalid(msg: string): InvalidArgument {
  return new InvalidArgument(`invalid layer: ${msg}`)
}

/**
 * Cleans a tar name into path components relative to the layer root. A leading `/` is taken
 * as the root (as Docker does); a `..` that would climb above the root is refused.
 */
export function cleanName(name: string, what = 'entry'): string[] {
  if (name === '' || name.includes('\0')) throw invalid(`${what} ${q(name)} has an invalid name`)
  const out: string[] = []
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue
    if (c === '..') {
      if (out.length === 0) throw invalid(`${what} ${q(name)} escapes the layer root`)
      out.pop()
      continue
    }
    out.push(c)
  }
  return out
}
