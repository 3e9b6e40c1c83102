// Just enough of Docker's reference grammar for the API layer's own needs
// (the `reference` filter and messages); the image store owns real parsing.

export interface RefParts {
  /** Fully qualified name, e.g. docker.io/library/busybox. */
  name: string
  /** Familiar name, e.g. busybox. */
  familiarName: string
  tag?: string
  digest?: string
}

/** Splits a familiar or qualified reference and adds Docker Hub's defaults. */
export function splitRef(ref: string): RefParts {
  let rest = ref
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
  }
  const slash = rest.indexOf('/')
  const first = slash < 0 ? '' : rest.slice(0, slash)
  const hasDomain =
    first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost')
  let name = hasDomain ? rest : `docker.io/${rest}`
  if (name.startsWith('docker.io/') && !name.slice('docker.io/'.length).includes('/')) {
    name = `docker.io/library/${name.slice('docker.io/'.length)}`
  }
  let familiarName = name
  if (familiarName.startsWith('docker.io/')) familiarName = familiarName.slice('docker.io/'.length)
  if (familiarName.startsWith('library/') && !familiarName.slice(8).includes('/')) {
    familiarName = familiarName.slice(8)
  }
  return { name, familiarName, tag, digest }
}

/** Go's path.Match as a RegExp: `*` and `?` stop at `/`, `[...]` classes, `\` escapes. */
export function globToRegExp(pattern: string): RegExp {
  let src = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*') src += '[^/]*'
    else if (c === '?') src += '[^/]'
    else if (c === '\\') {
      i++
      if (i >= pattern.length) throw new SyntaxError('syntax error in pattern')
      src += escape(pattern[i]!)
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end < 0) throw new SyntaxError('syntax error in pattern')
      let body = pattern.slice(i + 1, end)
      let neg = false
      if (body.startsWith('^')) {
        neg = true
        body = body.slice(1)
      }
      src += `[${neg ? '^' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`
      i = end
    } else src += escape(c)
  }
  return new RegExp(`^${src}$`)
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
