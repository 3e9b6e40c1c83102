// Go's path.Match patterns (the `reference` filter of image lists, and the like).

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
