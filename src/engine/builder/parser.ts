// The Dockerfile's first stage of parsing, with BuildKit's rules (frontend/dockerfile/parser):
// directives, comments, line continuations (with the escape token of the `escape` directive),
// empty continuation lines, heredocs, and each instruction's arguments split the way its keyword
// wants (JSON or shell form, name=value pairs, whitespace-separated words). Instructions are typed
// and checked in instructions.ts; variables are expanded later, when a step is dispatched.
import { DockerfileError, goQuote } from './errors.ts'
import { Lexer, type EnvGetter } from './shell.ts'

export interface Heredoc {
  /** The terminator word, quotes removed. */
  name: string
  fileDescriptor: number
  /** False when the terminator was quoted: the content is taken as it is. */
  expand: boolean
  /** `<<-`: leading tabs are removed from each line. */
  chomp: boolean
  content: string
}

/** One instruction, as the parser leaves it. */
export interface Node {
  /** The keyword as written (case kept). */
  keyword: string
  /** `--name=value` flags before the arguments, as written. */
  flags: string[]
  /** The arguments, split as the keyword wants. */
  args: string[]
  /** ONBUILD's trigger instruction. */
  sub?: Node
  /** True for the JSON (exec) form. */
  json: boolean
  heredocs: Heredoc[]
  /** The instruction's text with continuations joined. */
  original: string
  /** 1-based first and last line in the file. */
  startLine: number
  endLine: number
}

export interface Directives {
  escape: string
  syntax?: string
  check?: string
}

export interface ParseResult {
  nodes: Node[]
  directives: Directives
  escapeToken: string
  warnings: string[]
}

const WHITESPACE = /[\t\v\f\r ]+/
const HEREDOC = /^(\d*)<<(-?)\s*([^<]*)$/
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check'])
const HEREDOC_KEYWORDS = new Set(['add', 'copy', 'run'])

// Keywords and how their arguments are split; anything else parses as "ignored" and is refused
// with "unknown instruction" when typed.
type ArgSplitter = (rest: string, escape: string) => { args: string[]; json: boolean; sub?: Node }

class NotStringArray extends Error {}

/** Go's unicode.IsSpace for the characters a Dockerfile can hold. */
function isSpace(ch: string): boolean {
  return /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/.test(ch)
}

function trimLeftSpace(s: string): string {
  let i = 0
  while (i < s.length && isSpace(s[i]!)) i++
  return s.slice(i)
}

function trimSpace(s: string): string {
  let end = s.length
  while (end > 0 && isSpace(s[end - 1]!)) end--
  return trimLeftSpace(s.slice(0, end))
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, '')
}

function isComment(line: string): boolean {
  return trimLeftSpace(line).startsWith('#')
}

/**
 * Words separated by whitespace, quotes and escapes kept for the expansion to remove later
 * (BuildKit's parseWords, used by ENV, LABEL and ARG).
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = []
  let phase: 'spaces' | 'word' | 'quote' = 'spaces'
  let quote = ''
  let blankOK = false
  let word = ''
  const chars = Array.from(rest)
  for (let pos = 0; pos <= chars.length; pos++) {
    const end = pos === chars.length
    let ch = end ? '' : chars[pos]!
    if (phase === 'spaces') {
      if (end) break
      if (isSpace(ch)) continue
      phase = 'word'
    }
    if (end) {
      if (blankOK || word.length > 0) words.push(word)
      break
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces'
        if (blankOK || word.length > 0) words.push(word)
        word = ''
        blankOK = false
        continue
      }
      if (ch === "'" || ch === '"') {
        quote = ch
        blankOK = true
        phase = 'quote'
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue
        word += ch
        ch = chars[++pos]!
      }
      word += ch
      continue
    }
    // In quotes: the escape token escapes, except in single quotes.
    if (ch === quote) phase = 'word'
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word'
        continue
      }
      word += ch
      ch = chars[++pos]!
    }
    word += ch
  }
  return words
}

function parseNameVal(rest: string, key: string, escape: string): string[] {
  const words = parseWords(rest, escape)
  if (words.length === 0) return []
  // The legacy form `KEY name value...`: the first word has no '='.
  if (!words[0]!.includes('=')) {
    const m = /^([^\t\v\f\r ]*)[\t\v\f\r ]+([\s\S]*)$/.exec(rest)
    const parts = m ? [m[1]!, m[2]!] : [rest]
    if (parts.length < 2 || !m) throw new DockerfileError(`${key} must have two arguments`)
    return [parts[0]!, parts[1]!, '']
  }
  const out: string[] = []
  for (const w of words) {
    const eq = w.indexOf('=')
    if (eq < 0) {
      throw new DockerfileError(
        `Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`,
      )
    }
    out.push(w.slice(0, eq), w.slice(eq + 1), '=')
  }
  return out
}

function splitWhitespace(rest: string): string[] {
  if (rest === '') return []
  return rest.split(WHITESPACE)
}

function parseJSON(rest: string): string[] | undefined {
  const s = trimLeftSpace(rest)
  if (!s.startsWith('[')) return undefined
  let value: unknown
  try {
    value = JSON.parse(s)
  } catch {
    return undefined
  }
  if (value === null) return []
  if (!Array.isArray(value)) return undefined
  if (!value.every((v) => typeof v === 'string')) throw new NotStringArray()
  return value as string[]
}

function maybeJSON(rest: string): { args: string[]; json: boolean } {
  if (rest === '') return { args: [], json: false }
  const a = jsonOrThrow(rest)
  if (a !== undefined) return { args: a, json: true }
  return { args: [rest], json: false }
}

function maybeJSONToList(rest: string): { args: string[]; json: boolean } {
  const a = jsonOrThrow(rest)
  if (a !== undefined) return { args: a, json: true }
  return { args: splitWhitespace(rest), json: false }
}

function jsonOrThrow(rest: string): string[] | undefined {
  try {
    return parseJSON(rest)
  } catch (err) {
    if (err instanceof NotStringArray) {
      throw new DockerfileError(
        'when using JSON array syntax, arrays must be comprised of strings only',
      )
    }
    throw err
  }
}

const SPLITTERS: Record<string, ArgSplitter> = {
  add: (r) => maybeJSONToList(r),
  arg: (r, e) => ({ args: parseWords(r, e), json: false }),
  cmd: (r) => maybeJSON(r),
  copy: (r) => maybeJSONToList(r),
  entrypoint: (r) => maybeJSON(r),
  env: (r, e) => ({ args: parseNameVal(r, 'ENV', e), json: false }),
  expose: (r) => ({ args: splitWhitespace(r), json: false }),
  from: (r) => ({ args: splitWhitespace(r), json: false }),
  healthcheck: (r) => {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(r)
    if (!m || r === '' || isSpace(r[0]!)) return { args: [], json: false }
    const cmd = maybeJSON(m[2]!)
    return { args: [m[1]!, ...cmd.args], json: cmd.json }
  },
  label: (r, e) => ({ args: parseNameVal(r, 'LABEL', e), json: false }),
  maintainer: (r) => ({ args: r === '' ? [] : [r], json: false }),
  onbuild: (r, e) => {
    if (r === '') return { args: [], json: false }
    const sub = nodeFromLine(r, e)
    return { args: [sub.keyword, ...sub.args], json: false, sub }
  },
  run: (r) => maybeJSON(r),
  shell: (r) => maybeJSON(r),
  stopsignal: (r) => ({ args: r === '' ? [] : [r], json: false }),
  user: (r) => ({ args: r === '' ? [] : [r], json: false }),
  volume: (r) => maybeJSONToList(r),
  workdir: (r) => ({ args: r === '' ? [] : [r], json: false }),
}

/** Splits `--flag=value` words off the front of an instruction's arguments (byte by byte). */
function extractFlags(line: string, escape: string): { rest: string; flags: string[] } {
  const flags: string[] = []
  let phase: 'spaces' | 'word' | 'quote' = 'spaces'
  let word = ''
  let quote = ''
  let blankOK = false
  for (let pos = 0; pos <= line.length; pos++) {
    const end = pos === line.length
    let ch = end ? '' : line[pos]!
    if (phase === 'spaces') {
      if (end) break
      if (isSpace(ch)) continue
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') {
        return { rest: line.slice(pos), flags }
      }
      phase = 'word'
    }
    if (end) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word)
      break
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces'
        if (word === '--') return { rest: line.slice(pos), flags }
        if (blankOK || word.length > 0) flags.push(word)
        word = ''
        blankOK = false
        continue
      }
      if (ch === "'" || ch === '"') {
        quote = ch
        blankOK = true
        phase = 'quote'
        continue
      }
      if (ch === escape) {
        if (pos + 1 === line.length) continue
        ch = line[++pos]!
      }
      word += ch
      continue
    }
    if (ch === quote) {
      phase = 'word'
      continue
    }
    if (ch === escape) {
      if (pos + 1 === line.length) {
        phase = 'word'
        continue
      }
      ch = line[++pos]!
    }
    word += ch
  }
  return { rest: '', flags }
}

function nodeFromLine(line: string, escape: string): Node {
  const trimmed = trimSpace(line)
  const m = /^([^\t\v\f\r ]+)(?:[\t\v\f\r ]+([\s\S]*))?$/.exec(trimmed)
  const keyword = m?.[1] ?? trimmed
  let flags: string[] = []
  let rest = ''
  if (m?.[2] !== undefined) {
    const f = extractFlags(m[2], escape)
    flags = f.flags
    rest = trimSpace(f.rest)
  }
  const split = SPLITTERS[keyword.toLowerCase()]
  const parsed = split ? split(rest, escape) : { args: [''], json: false }
  return {
    keyword,
    flags,
    args: parsed.args,
    json: parsed.json,
    ...('sub' in parsed && parsed.sub ? { sub: parsed.sub } : {}),
    heredocs: [],
    original: line,
    startLine: 0,
    endLine: 0,
  }
}

function canContainHeredoc(node: Node): boolean {
  const n = node.keyword.toLowerCase() === 'onbuild' && node.sub ? node.sub : node
  return HEREDOC_KEYWORDS.has(n.keyword.toLowerCase()) && !n.json
}

const NO_ENV: EnvGetter = { get: () => undefined, keys: () => [] }

/** A heredoc word (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined when the word is none. */
export function parseHeredoc(word: string): Omit<Heredoc, 'content'> | undefined {
  const m = HEREDOC.exec(word)
  if (!m || m[3] === '') return undefined
  const rest = m[3]!
  const plain = new Lexer('\\', { skipUnsetEnv: true })
  const words = plain.processWords(rest, NO_ENV)
  if (words.length !== 1) return undefined
  const raw = new Lexer('\\', { skipUnsetEnv: true, rawQuotes: true })
  const rawWords = raw.processWords(rest, NO_ENV)
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length
  return {
    name: words[0]!,
    fileDescriptor: m[1] === '' ? 0 : Number.parseInt(m[1]!, 10),
    chomp: m[2] === '-',
    // Quotes anywhere in the terminator (removed in one reading, kept in the other) turn
    // expansion off.
    expand: quotes(words[0]!) === quotes(rawWords[0] ?? ''),
  }
}

function heredocsFromLine(line: string): Omit<Heredoc, 'content'>[] {
  const lex = new Lexer('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true })
  let words: string[]
  try {
    words = lex.processWords(line, NO_ENV)
  } catch {
    words = []
  }
  const out: Omit<Heredoc, 'content'>[] = []
  for (const w of words) {
    const h = parseHeredoc(w)
    if (h) out.push(h)
  }
  return out
}

/** Removes the leading tabs of every line (`<<-`). */
export function chompHeredoc(s: string): string {
  return s.replace(/^\t+/gm, '')
}

interface Directive {
  name: string
  value: string
}

/** Reads the directives at the top of the file; stops at the first line that is not one. */
class DirectiveParser {
  private done = false
  private readonly seen = new Set<string>()

  parseLine(line: string): Directive | undefined {
    if (this.done) return undefined
    if (!line.startsWith('#')) {
      this.done = true
      return undefined
    }
    const m = DIRECTIVE.exec(trimLeftSpace(line.slice(1)))
    if (!m) {
      this.done = true
      return undefined
    }
    const name = m[1]!.toLowerCase()
    if (!KNOWN_DIRECTIVES.has(name)) {
      this.done = true
      return undefined
    }
    if (this.seen.has(name)) {
      throw new DockerfileError(`only one ${name} parser directive can be used`)
    }
    this.seen.add(name)
    return { name, value: m[2]! }
  }
}

/** Splits the text into lines, each with its line ending. */
function splitLines(text: string): string[] {
  const out: string[] = []
  let start = 0
  for (;;) {
    const i = text.indexOf('\n', start)
    if (i < 0) {
      if (start < text.length) out.push(text.slice(start))
      return out
    }
    out.push(text.slice(start, i + 1))
    start = i + 1
  }
}

/** Parses a Dockerfile's text. Errors are DockerfileErrors with the line they were found on. */
export function parse(text: string): ParseResult {
  const lines = splitLines(text)
  if (lines.length > 0) lines[0] = lines[0]!.replace(/^\uFEFF/, '')
  const dirParser = new DirectiveParser()
  const directives: Directives = { escape: '\\' }
  let escape = '\\'
  let continuation = continuationRegex(escape)
  const nodes: Node[] = []
  const warnings: string[] = []
  let current = 0
  let i = 0

  // A line with its newline removed, (for the first line of an instruction) its leading
  // whitespace removed, a directive recognised, and a comment emptied.
  const processLine = (raw: string, stripLeft: boolean): string => {
    let line = trimNewline(raw)
    if (stripLeft) line = trimLeftSpace(line)
    let d: Directive | undefined
    try {
      d = dirParser.parseLine(line)
    } catch (err) {
      throw located(err, current, current)
    }
    if (d) {
      if (d.name === 'escape') {
        if (d.value !== '`' && d.value !== '\\') {
          throw located(
            new DockerfileError(`invalid escape token '${d.value}' does not match \` or \\`),
            current,
            current,
          )
        }
        escape = d.value
        continuation = continuationRegex(escape)
        directives.escape = escape
      } else if (d.name === 'syntax') directives.syntax = d.value
      else directives.check = d.value
    }
    return isComment(line) ? '' : line
  }
  const trimContinuation = (line: string): { line: string; end: boolean } => {
    if (continuation.test(line)) return { line: line.replace(continuation, '$1'), end: false }
    return { line, end: true }
  }

  while (i < lines.length) {
    let bytes = processLine(lines[i++]!, true)
    current++
    const startLine = current
    let t = trimContinuation(bytes)
    if (t.end && t.line.length === 0) continue
    let buf = t.line
    let emptyContinuation = false
    while (!t.end && i < lines.length) {
      const raw = lines[i++]!
      bytes = processLine(raw, false)
      current++
      if (isComment(raw)) continue
      if (trimLeftSpace(trimNewline(bytes)).length === 0) {
        emptyContinuation = true
        continue
      }
      t = trimContinuation(bytes)
      buf += t.line
    }
    if (emptyContinuation) warnings.push(`Empty continuation line found in: ${buf}`)

    let node: Node
    try {
      node = nodeFromLine(buf, escape)
    } catch (err) {
      throw located(err, startLine, current)
    }
    if (canContainHeredoc(node) && buf.includes('<<')) {
      for (const h of heredocsFromLine(buf)) {
        let content = ''
        let terminated = false
        while (i < lines.length) {
          const raw = lines[i++]!
          current++
          let candidate = trimNewline(raw)
          if (h.chomp) candidate = candidate.replace(/^\t+/, '')
          if (candidate === h.name) {
            terminated = true
            break
          }
          content += raw
        }
        if (!terminated)
          throw located(new DockerfileError('unterminated heredoc'), startLine, current)
        node.heredocs.push({ ...h, content })
      }
    }
    node.startLine = startLine
    node.endLine = current
    if (node.sub) {
      node.sub.startLine = startLine
      node.sub.endLine = current
      node.sub.heredocs = node.heredocs
    }
    nodes.push(node)
  }
  if (nodes.length === 0) {
    throw located(new DockerfileError('file with no instructions'), current, current)
  }
  return { nodes, directives, escapeToken: escape, warnings }
}

function continuationRegex(escape: string): RegExp {
  const e = escape === '\\' ? '\\\\' : escape
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`)
}

function located(err: unknown, start: number, end: number): unknown {
  if (err instanceof DockerfileError && err.startLine === undefined) {
    err.startLine = start
    err.endLine = Math.max(start, end)
  }
  return err
}
