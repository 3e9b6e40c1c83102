// Variable substitution and word splitting with the exact rules of BuildKit's shell lexer
// (frontend/dockerfile/shell): quotes, the escape token, $VAR and ${VAR}, and the modifiers
// ${VAR:-w} ${VAR-w} ${VAR:+w} ${VAR+w} ${VAR:?w} ${VAR?w} ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p}
// ${VAR/p/r} ${VAR//p/r}. Errors carry BuildKit's words.
import { DockerfileError, goQuote } from './errors.ts'

export interface EnvGetter {
  get(name: string): string | undefined
  keys(): string[]
}

/** An environment from KEY=VALUE strings; a later KEY wins. */
export function envFromList(list: readonly string[]): EnvGetter {
  const m = new Map<string, string>()
  const keys: string[] = []
  for (const kv of list) {
    const eq = kv.indexOf('=')
    const k = eq < 0 ? kv : kv.slice(0, eq)
    keys.push(k)
    m.set(k, eq < 0 ? '' : kv.slice(eq + 1))
  }
  return { get: (k) => m.get(k), keys: () => keys }
}

export interface LexerOptions {
  /** Quotes stay in the result (they are still honoured). */
  rawQuotes?: boolean
  /** Escape tokens stay in the result (they still escape). */
  rawEscapes?: boolean
  /** Quotes are ordinary characters. */
  skipProcessQuotes?: boolean
  /** Unset variables are left as written instead of becoming empty. */
  skipUnsetEnv?: boolean
}

export interface WordResult {
  result: string
  words: string[]
  matched: Set<string>
  unmatched: Set<string>
}

const EOF = ''

class Words {
  buf = ''
  words: string[] = []
  inWord = false

  addChar(ch: string): void {
    if (isSpace(ch) && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf)
        this.buf = ''
        this.inWord = false
      }
    } else if (!isSpace(ch)) {
      this.addRawChar(ch)
    }
  }

  addRawChar(ch: string): void {
    this.buf += ch
    this.inWord = true
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch)
  }

  addRawString(s: string): void {
    this.buf += s
    this.inWord = true
  }

  get(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf)
      this.buf = ''
      this.inWord = false
    }
    return this.words
  }
}

function isSpace(ch: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(ch)
}

function isLetterOrDigit(ch: string): boolean {
  return /^[\p{L}\p{Nd}]$/u.test(ch)
}

function isDigit(ch: string): boolean {
  return /^\p{Nd}$/u.test(ch)
}

function isSpecialParam(ch: string): boolean {
  return '@*#?-$!0'.includes(ch) && ch !== ''
}

class Scan {
  private readonly chars: string[]
  private pos = 0
  constructor(text: string) {
    this.chars = Array.from(text)
  }
  peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF
  }
  next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF
  }
}

/** One pass over one word: the scanner and what it found. */
class ShellWord {
  readonly matched = new Set<string>()
  readonly unmatched = new Set<string>()
  private rawEscapes: boolean

  constructor(
    private readonly lex: Lexer,
    private readonly scan: Scan,
    private readonly env: EnvGetter,
  ) {
    this.rawEscapes = lex.opts.rawEscapes ?? false
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes)
  }

  private processStopOn(stop: string, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes
    this.rawEscapes = rawEscapes
    try {
      return this.stopOn(stop)
    } finally {
      this.rawEscapes = saved
    }
  }

  private stopOn(stop: string): { result: string; words: string[] } {
    let result = ''
    const words = new Words()
    const quotes = !this.lex.opts.skipProcessQuotes
    while (this.scan.peek() !== EOF) {
      const ch = this.scan.peek()
      if (stop !== EOF && ch === stop) {
        this.scan.next()
        return { result, words: words.get() }
      }
      let special: (() => string) | undefined
      if (ch === '$') special = () => this.processDollar()
      else if (ch === '<') special = () => this.processPossibleHeredoc()
      else if (quotes && ch === "'") special = () => this.processSingleQuote()
      else if (quotes && ch === '"') special = () => this.processDoubleQuote()
      if (special) {
        const tmp = special()
        result += tmp
        if (ch === '$') words.addString(tmp)
        else words.addRawString(tmp)
        continue
      }
      let c = this.scan.next()
      if (c === this.lex.escapeToken) {
        if (this.rawEscapes) {
          words.addRawChar(c)
          result += c
        }
        c = this.scan.next()
        if (c === EOF) break
        words.addRawChar(c)
      } else {
        words.addChar(c)
      }
      result += c
    }
    if (stop !== EOF) {
      throw new DockerfileError(`unexpected end of statement while looking for matching ${stop}`)
    }
    return { result, words: words.get() }
  }

  private processSingleQuote(): string {
    const raw = this.lex.opts.rawQuotes ?? false
    let result = ''
    const open = this.scan.next()
    if (raw) result += open
    for (;;) {
      const ch = this.scan.next()
      if (ch === EOF) {
        throw new DockerfileError(
          'unexpected end of statement while looking for matching single-quote',
        )
      }
      if (ch === "'") {
        if (raw) result += ch
        return result
      }
      result += ch
    }
  }

  private processDoubleQuote(): string {
    const raw = this.lex.opts.rawQuotes ?? false
    let result = ''
    const open = this.scan.next()
    if (raw) result += open
    for (;;) {
      const p = this.scan.peek()
      if (p === EOF) {
        throw new DockerfileError(
          'unexpected end of statement while looking for matching double-quote',
        )
      }
      if (p === '"') {
        const ch = this.scan.next()
        if (raw) result += ch
        return result
      }
      if (p === '$') {
        result += this.processDollar()
        continue
      }
      let ch = this.scan.next()
      if (ch === this.lex.escapeToken) {
        if (this.rawEscapes) result += ch
        const q = this.scan.peek()
        // An escape at the end of the text is dropped; only ", $ and the escape are escaped.
        if (q === EOF) continue
        if (q === '"' || q === '$' || q === this.lex.escapeToken) ch = this.scan.next()
      }
      result += ch
    }
  }

  private processDollar(): string {
    const skip = this.lex.opts.skipUnsetEnv ?? false
    this.scan.next()
    if (this.scan.peek() !== '{') {
      const name = this.processName()
      if (name === '') return '$'
      const value = this.getEnv(name)
      if (value === undefined && skip) return `$${name}`
      return value ?? ''
    }
    this.scan.next()
    const first = this.scan.peek()
    if (first === EOF) throw new DockerfileError("syntax error: missing '}'")
    if (first === '{' || first === '}' || first === ':') {
      throw new DockerfileError('syntax error: bad substitution')
    }
    const name = this.processName()
    let ch = this.scan.next()
    let chs = ch
    let nullIsUnset = false
    // BuildKit reports "unsupported modifier" here; the brace is what is missing.
    if (ch === EOF) throw new DockerfileError("syntax error: missing '}'")
    if (ch === '}') {
      const value = this.getEnv(name)
      if (value === undefined && skip) return `\${${name}}`
      return value ?? ''
    }
    if (ch === ':') {
      nullIsUnset = true
      ch = this.scan.next()
      chs += ch
    }
    if (nullIsUnset || (ch !== EOF && '+-?#%'.includes(ch))) {
      const raw = ch === '#' || ch === '%'
      if (nullIsUnset && raw) {
        throw new DockerfileError(`unsupported modifier (${chs}) in substitution`)
      }
      let word: string
      try {
        word = this.processStopOn('}', raw).result
      } catch (err) {
        if (this.scan.peek() === EOF) throw new DockerfileError("syntax error: missing '}'")
        throw err
      }
      const value = this.getEnv(name)
      if (skip && value === undefined) return `\${${name}${chs}${word}}`
      const unset = value === undefined || (nullIsUnset && value === '')
      switch (ch) {
        case '-':
          return unset ? word : value!
        case '+':
          return unset ? '' : word
        case '?':
          if (value === undefined) {
            throw new DockerfileError(`${name}: ${word || 'is not allowed to be unset'}`)
          }
          if (nullIsUnset && value === '') {
            throw new DockerfileError(`${name}: ${word || 'is not allowed to be empty'}`)
          }
          return value
        case '%':
        case '#': {
          let greedy = false
          let pattern = word
          if (pattern.length > 0 && pattern[0] === ch) {
            greedy = true
            pattern = pattern.slice(1)
          }
          return ch === '%'
            ? trimSuffix(pattern, value ?? '', greedy)
            : trimPrefix(pattern, value ?? '', greedy)
        }
        default:
          throw new DockerfileError(`unsupported modifier (${chs}) in substitution`)
      }
    }
    if (ch === '/') {
      const all = this.scan.peek() === '/'
      if (all) this.scan.next()
      let pattern: string
      try {
        pattern = this.processStopOn('/', true).result
      } catch (err) {
        if (this.scan.peek() === EOF) throw new DockerfileError("syntax error: missing '/' in ${}")
        throw err
      }
      let replacement: string
      try {
        replacement = this.processStopOn('}', true).result
      } catch (err) {
        if (this.scan.peek() === EOF) throw new DockerfileError("syntax error: missing '}'")
        throw err
      }
      const value = this.getEnv(name)
      if (skip && value === undefined) return `\${${name}/${pattern}/${replacement}}`
      const re = patternToRegExp(pattern, true, false, all)
      const v = value ?? ''
      if (all) return v.replace(re, (m) => expandGoTemplate(replacement, m))
      const m = re.exec(v)
      if (!m) return v
      return v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length)
    }
    throw new DockerfileError(`unsupported modifier (${chs}) in substitution`)
  }

  private processName(): string {
    let name = ''
    while (this.scan.peek() !== EOF) {
      const ch = this.scan.peek()
      if (name.length === 0 && isDigit(ch)) {
        while (this.scan.peek() !== EOF && isDigit(this.scan.peek())) name += this.scan.next()
        return name
      }
      if (name.length === 0 && isSpecialParam(ch)) return this.scan.next()
      if (!isLetterOrDigit(ch) && ch !== '_') break
      name += this.scan.next()
    }
    return name
  }

  private processPossibleHeredoc(): string {
    this.scan.next()
    if (this.scan.peek() !== '<') return '<'
    this.scan.next()
    let space = ''
    while ('\t\r '.includes(this.scan.peek()) && this.scan.peek() !== EOF) space += this.scan.next()
    return `<<${space}`
  }

  private getEnv(name: string): string | undefined {
    const v = this.env.get(name)
    if (v !== undefined) this.matched.add(name)
    else this.unmatched.add(name)
    return v
  }
}

/** Go's regexp template expansion for a pattern without groups: $0 is the match, $$ a dollar. */
function expandGoTemplate(template: string, match: string): string {
  return template.replace(
    /\$(\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))?/g,
    (all, _x, braced, bare) => {
      if (all === '$$') return '$'
      const name = (braced ?? bare) as string | undefined
      if (name === undefined || name === '') return all === '$' ? '$' : ''
      return name === '0' ? match : ''
    },
  )
}

/**
 * A shell wildcard pattern (`*`, `?`, backslash escapes; no bracket expressions) as a regular
 * expression, as BuildKit converts it.
 */
function patternToRegExp(
  pattern: string,
  greedy: boolean,
  anchored: boolean,
  global = false,
): RegExp {
  const chars = Array.from(pattern)
  let out = anchored ? '^' : ''
  for (let i = 0; i < chars.length; i++) {
    let tok = chars[i]!
    if (tok === '*') {
      out += greedy ? '.*' : '.*?'
      continue
    }
    if (tok === '?') {
      out += '.'
      continue
    }
    if (tok === '\\') {
      // } and / are escaped only for ${}; the escape is no part of the pattern.
      const next = chars[i + 1]
      if (next === '}' || next === '/') continue
      out += '\\'
      tok = chars[++i] ?? ''
      if (tok !== '*' && tok !== '?' && tok !== '\\') {
        throw new DockerfileError(
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${tok}'`,
        )
      }
    } else if ('[]{}.+()|^$'.includes(tok)) {
      out += '\\'
    }
    out += tok
  }
  return new RegExp(out, global ? 'gu' : 'u')
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = patternToRegExp(pattern, greedy, true).exec(value)
  return m ? value.slice(m.index + m[0].length) : value
}

/** Reverses a pattern, keeping each escape before the character it escapes. */
function reversePattern(pattern: string): string {
  const p = Array.from(pattern)
  const out = new Array<string>(p.length)
  const last = p.length - 1
  for (let i = 0; i <= last;) {
    const tok = p[i]!
    const o = last - i
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok
      out[o] = p[i + 1]!
      i += 2
    } else {
      out[o] = tok
      i++
    }
  }
  return out.join('')
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('')
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // The shortest match from the right, found as the shortest from the left of the reversals.
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy))
}

/** BuildKit's shell.Lex. */
export class Lexer {
  constructor(
    readonly escapeToken: string,
    readonly opts: LexerOptions = {},
  ) {}

  /** The word with variables replaced and quotes and escapes processed; spaces kept. */
  processWord(word: string, env: EnvGetter): string {
    return this.process(word, env).result
  }

  /** The word expanded, then split on unquoted whitespace. */
  processWords(word: string, env: EnvGetter): string[] {
    return this.process(word, env).words
  }

  /** Both results, with the names that were found and not found in env. */
  process(word: string, env: EnvGetter): WordResult {
    const sw = new ShellWord(this, new Scan(word), env)
    try {
      const r = sw.run()
      return { ...r, matched: sw.matched, unmatched: sw.unmatched }
    } catch (err) {
      if (err instanceof DockerfileError) {
        throw new DockerfileError(`failed to process ${goQuote(word)}: ${err.message}`)
      }
      throw err
    }
  }
}
