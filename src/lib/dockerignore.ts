// .dockerignore with Docker's rules (moby/patternmatcher and its ignorefile reader): patterns are
// cleaned paths relative to the context, `*` and `?` stop at a slash, `**` crosses them, `!`
// brings back what an earlier pattern left out, the last pattern that matches wins, and a path is
// left out when it or any of its parent directories is. Written here because @balena/dockerignore
// follows the older fileutils rules (no parent-directory matching for `!` exceptions).
import { posix } from 'node:path'
import { ParseError } from './errors.ts'

/** The patterns of a .dockerignore file, as Docker reads them. */
export function readIgnoreFile(text: string): string[] {
  const out: string[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.replace(/\r$/, '')
    if (i === 0) line = line.replace(/^\uFEFF/, '')
    // Only a # in the first column starts a comment.
    if (line.startsWith('#')) continue
    let p = line.trim()
    if (p === '') continue
    const invert = p.startsWith('!')
    if (invert) p = p.slice(1).trim()
    if (p.length > 0) {
      p = posix.normalize(p)
      if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1)
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1)
    }
    out.push(invert ? `!${p}` : p)
  }
  return out
}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp'

interface Pattern {
  cleaned: string
  exclusion: boolean
  type: MatchType
  re?: RegExp
}

const ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$'])

/** Go's filepath.Clean for slash paths. */
function clean(p: string): string {
  if (p === '') return '.'
  let c = posix.normalize(p)
  if (c.length > 1 && c.endsWith('/')) c = c.slice(0, -1)
  return c
}

function compile(cleaned: string): Pick<Pattern, 'type' | 're'> {
  let re = '^'
  let type: MatchType = 'exact'
  const chars = Array.from(cleaned)
  for (let i = 0, n = 0; i < chars.length; i++, n++) {
    const ch = chars[i]!
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++
        if (chars[i + 1] === '/') i++
        if (i + 1 >= chars.length) {
          // A trailing ** matches everything below, as in .gitignore.
          if (type === 'exact') type = 'prefix'
          else {
            re += '.*'
            type = 'regexp'
          }
        } else {
          re += '(.*/)?'
          type = 'regexp'
        }
        if (n === 0) type = 'suffix'
      } else {
        re += '[^/]*'
        type = 'regexp'
      }
    } else if (ch === '?') {
      re += '[^/]'
      type = 'regexp'
    } else if (ESCAPE.has(ch)) {
      re += `\\${ch}`
    } else if (ch === '\\') {
      if (i + 1 < chars.length) {
        re += `\\${chars[++i]!}`
        type = 'regexp'
      } else {
        re += '\\\\'
      }
    } else if (ch === '[' || ch === ']') {
      re += ch
      type = 'regexp'
    } else {
      re += ch
    }
  }
  if (type !== 'regexp') return { type }
  try {
    return { type, re: new RegExp(`${re}$`, 'u') }
  } catch {
    throw new ParseError('syntax error in pattern')
  }
}

function matchOne(p: Pattern, path: string): boolean {
  switch (p.type) {
    case 'exact':
      return path === p.cleaned
    case 'prefix':
      return path.startsWith(p.cleaned.slice(0, -2))
    case 'suffix': {
      const suffix = p.cleaned.slice(2)
      if (path.endsWith(suffix)) return true
      return suffix.startsWith('/') && path === suffix.slice(1)
    }
    case 'regexp':
      return p.re!.test(path)
  }
}

/** Checks a pattern's syntax the way filepath.Match does: brackets must close. */
function checkSyntax(p: string): void {
  let open = false
  for (let i = 0; i < p.length; i++) {
    const c = p[i]
    if (c === '\\') i++
    else if (c === '[' && !open) open = true
    else if (c === ']' && open) open = false
  }
  if (open) throw new ParseError('syntax error in pattern')
}

export class PatternMatcher {
  private readonly patterns: Pattern[] = []
  /** Whether any pattern is an exception (`!`). */
  readonly exclusions: boolean

  constructor(patterns: readonly string[]) {
    let exclusions = false
    for (let raw of patterns) {
      raw = raw.trim()
      if (raw === '') continue
      raw = clean(raw)
      let exclusion = false
      if (raw.startsWith('!')) {
        if (raw.length === 1) throw new ParseError('illegal exclusion pattern: "!"')
        exclusion = true
        exclusions = true
        raw = raw.slice(1)
      }
      checkSyntax(raw)
      this.patterns.push({ cleaned: raw, exclusion, ...compile(raw) })
    }
    this.exclusions = exclusions
  }

  get empty(): boolean {
    return this.patterns.length === 0
  }

  /** Whether the context path (slash-separated, relative, no leading ./) is left out. */
  matches(file: string): boolean {
    const path = clean(file)
    if (path === '.') return false
    const parent = posix.dirname(path)
    const parentDirs = parent === '.' ? [] : parent.split('/')
    let matched = false
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue
      let m = matchOne(p, path)
      for (let i = 0; !m && i < parentDirs.length; i++) {
        m = matchOne(p, parentDirs.slice(0, i + 1).join('/'))
      }
      if (m) matched = !p.exclusion
    }
    return matched
  }

  /**
   * Whether a left-out directory can be skipped whole: only when no exception could bring back
   * something under it (Docker's walk does the same).
   */
  canSkipDir(dir: string): boolean {
    if (!this.exclusions) return true
    const prefix = `${clean(dir)}/`
    return !this.patterns.some((p) => p.exclusion && `${p.cleaned}/`.startsWith(prefix))
  }
}
