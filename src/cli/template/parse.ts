// Lexer and parser for the subset of Go's text/template that docker users write in --format.
// The node shapes follow text/template/parse so the executor reads like Go's exec.go.

export type ArgNode =
  | { type: 'field'; idents: string[] }
  | { type: 'dot' }
  | { type: 'variable'; name: string; idents: string[] }
  | { type: 'identifier'; name: string }
  | { type: 'string'; value: string }
  | { type: 'number'; value: number; text: string }
  | { type: 'bool'; value: boolean }
  | { type: 'nil' }
  | { type: 'pipe'; pipe: PipeNode }
  | { type: 'chain'; node: ArgNode; idents: string[] }

export interface CommandNode {
  args: ArgNode[]
}

export interface PipeNode {
  decls: string[]
  isAssign: boolean
  cmds: CommandNode[]
}

export type Node =
  | { type: 'text'; text: string }
  | { type: 'action'; pipe: PipeNode }
  | { type: 'if' | 'with' | 'range'; pipe: PipeNode; list: Node[]; elseList: Node[] | null }
  | { type: 'template'; name: string; pipe: PipeNode | null }
  | { type: 'break' }
  | { type: 'continue' }

export class TemplateError extends Error {}

type TokKind =
  | 'text'
  | 'left'
  | 'right'
  | 'space'
  | 'field'
  | 'variable'
  | 'identifier'
  | 'string'
  | 'number'
  | 'char'
  | 'pipe'
  | 'lparen'
  | 'rparen'
  | 'declare'
  | 'assign'
  | 'comma'
  | 'dot'
  | 'eof'

interface Token {
  kind: TokKind
  val: string
  line: number
}

const keywords = new Set([
  'if',
  'else',
  'end',
  'range',
  'with',
  'define',
  'template',
  'block',
  'break',
  'continue',
  'nil',
  'true',
  'false',
])

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n'
}

// Made on first need: V8 builds a \p{...} class from ICU's tables as the literal is evaluated,
// about 4.6M instructions (callgrind), which every command that loads this module paid at start
let unicodeAlnum: RegExp | undefined

function isAlnum(c: string): boolean {
  const n = c.charCodeAt(0)
  // ASCII without the Unicode pattern
  if (n < 0x80)
    return (n >= 48 && n <= 57) || (n >= 65 && n <= 90) || (n >= 97 && n <= 122) || n === 95
  unicodeAlnum ??= /[\p{L}\p{N}_]/u
  return unicodeAlnum.test(c)
}

function lex(src: string, name: string): Token[] {
  const toks: Token[] = []
  let pos = 0
  let line = 1
  const fail: (msg: string) => never = (msg) => {
    throw new TemplateError(`template: ${name}:${line}: ${msg}`)
  }
  let trimNext = false
  while (pos < src.length) {
    let start = src.indexOf('{{', pos)
    if (start < 0) start = src.length
    let text = src.slice(pos, start)
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '')
    trimNext = false
    let trimLeft = false
    if (start < src.length && src[start + 2] === '-' && isSpace(src[start + 3] ?? '')) {
      trimLeft = true
      text = text.replace(/[ \t\r\n]+$/, '')
    }
    if (text) toks.push({ kind: 'text', val: text, line })
    line += (src.slice(pos, start).match(/\n/g) ?? []).length
    if (start >= src.length) break
    pos = start + 2 + (trimLeft ? 2 : 0)
    // comment
    if (src.startsWith('/*', pos)) {
      const endC = src.indexOf('*/', pos)
      if (endC < 0) fail('unclosed comment')
      let p = endC + 2
      if (src.startsWith(' -}}', p)) {
        trimNext = true
        p += 4
      } else if (src.startsWith('}}', p)) p += 2
      else fail('comment ends before closing delimiter')
      line += (src.slice(pos, p).match(/\n/g) ?? []).length
      pos = p
      continue
    }
    toks.push({ kind: 'left', val: '{{', line })
    let parens = 0
    for (;;) {
      if (pos >= src.length) fail('unclosed action')
      if (isSpace(src[pos])) {
        let p = pos
        while (p < src.length && isSpace(src[p])) p++
        if (src.startsWith('-}}', p)) {
          line += (src.slice(pos, p).match(/\n/g) ?? []).length
          pos = p + 3
          trimNext = true
          toks.push({ kind: 'right', val: '}}', line })
          break
        }
        line += (src.slice(pos, p).match(/\n/g) ?? []).length
        toks.push({ kind: 'space', val: ' ', line })
        pos = p
        continue
      }
      if (src.startsWith('}}', pos)) {
        if (parens > 0) fail('unclosed left paren')
        pos += 2
        toks.push({ kind: 'right', val: '}}', line })
        break
      }
      const c = src[pos]
      if (c === '|') {
        toks.push({ kind: 'pipe', val: c, line })
        pos++
      } else if (c === '(') {
        parens++
        toks.push({ kind: 'lparen', val: c, line })
        pos++
      } else if (c === ')') {
        parens--
        if (parens < 0) fail(`unexpected right paren`)
        toks.push({ kind: 'rparen', val: c, line })
        pos++
      } else if (c === ',') {
        toks.push({ kind: 'comma', val: c, line })
        pos++
      } else if (c === ':' && src[pos + 1] === '=') {
        toks.push({ kind: 'declare', val: ':=', line })
        pos += 2
      } else if (c === '=') {
        toks.push({ kind: 'assign', val: '=', line })
        pos++
      } else if (c === '"') {
        let p = pos + 1
        while (p < src.length && src[p] !== '"') {
          if (src[p] === '\\') p++
          if (src[p] === '\n') fail('unterminated quoted string')
          p++
        }
        if (p >= src.length) fail('unterminated quoted string')
        toks.push({ kind: 'string', val: src.slice(pos, p + 1), line })
        pos = p + 1
      } else if (c === '`') {
        const p = src.indexOf('`', pos + 1)
        if (p < 0) fail('unterminated raw quoted string')
        toks.push({ kind: 'string', val: src.slice(pos, p + 1), line })
        pos = p + 1
      } else if (c === "'") {
        let p = pos + 1
        if (src[p] === '\\') p++
        p++
        if (src[p] !== "'") fail('unterminated character constant')
        toks.push({ kind: 'char', val: src.slice(pos, p + 1), line })
        pos = p + 1
      } else if (c === '$') {
        let p = pos + 1
        while (p < src.length && isAlnum(src[p])) p++
        toks.push({ kind: 'variable', val: src.slice(pos, p), line })
        pos = p
      } else if (c === '.') {
        if (/[0-9]/.test(src[pos + 1] ?? '')) {
          const m = /^[.0-9eE+-]+/.exec(src.slice(pos))
          toks.push({ kind: 'number', val: m?.[0] ?? '', line })
          pos += m?.[0].length ?? 1
          continue
        }
        let p = pos + 1
        while (p < src.length && isAlnum(src[p])) p++
        toks.push(
          p === pos + 1
            ? { kind: 'dot', val: '.', line }
            : { kind: 'field', val: src.slice(pos, p), line },
        )
        pos = p
      } else if (/[0-9+-]/.test(c)) {
        const m = /^[+-]?(0[xX][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]+([eE][+-]?[0-9]+)?)/.exec(
          src.slice(pos),
        )
        if (!m || m[0] === '' || m[0] === '+' || m[0] === '-') fail(`bad number syntax: "${c}"`)
        toks.push({ kind: 'number', val: m![0], line })
        pos += m![0].length
      } else if (isAlnum(c)) {
        let p = pos
        while (p < src.length && isAlnum(src[p])) p++
        toks.push({ kind: 'identifier', val: src.slice(pos, p), line })
        pos = p
      } else {
        fail(`unexpected "${c}" in command`)
      }
    }
  }
  toks.push({ kind: 'eof', val: '', line })
  return toks
}

function unquote(s: string): string {
  if (s.startsWith('`')) return s.slice(1, -1)
  const body = s.slice(1, -1)
  return body.replace(
    /\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g,
    (_m, e: string) => {
      switch (e[0]) {
        case 'n':
          return '\n'
        case 't':
          return '\t'
        case 'r':
          return '\r'
        case 'a':
          return '\x07'
        case 'b':
          return '\b'
        case 'f':
          return '\f'
        case 'v':
          return '\v'
        case 'x':
        case 'u':
        case 'U':
          return String.fromCodePoint(parseInt(e.slice(1), 16))
        default:
          if (/[0-7]/.test(e[0])) return String.fromCodePoint(parseInt(e, 8))
          return e
      }
    },
  )
}

export interface ParsedTemplate {
  root: Node[]
  defines: Map<string, Node[]>
}

export function parseTemplate(src: string, name = ''): ParsedTemplate {
  const toks = lex(src, name)
  let i = 0
  const defines = new Map<string, Node[]>()
  const vars: string[][] = [['$']]
  const peek = () => toks[i]
  const next = () => toks[i++]
  const fail: (msg: string) => never = (msg) => {
    throw new TemplateError(`template: ${name}:${peek().line}: ${msg}`)
  }
  const nonSpace = (): Token => {
    let t = next()
    while (t.kind === 'space') t = next()
    return t
  }
  const peekNonSpace = (): Token => {
    const save = i
    const t = nonSpace()
    i = save
    return t
  }
  const hasVar = (n: string) => vars.some((scope) => scope.includes(n))

  // itemList parses until {{end}} / {{else}}; returns the list and which keyword ended it
  const itemList = (ctx: string): [Node[], string] => {
    const list: Node[] = []
    for (;;) {
      const t = peek()
      if (t.kind === 'eof') {
        if (ctx === 'top') return [list, 'eof']
        fail(`unexpected EOF`)
      }
      if (t.kind === 'text') {
        next()
        list.push({ type: 'text', text: t.val })
        continue
      }
      next() // left delim
      const kw = peekNonSpace()
      if (kw.kind === 'identifier' && (kw.val === 'end' || kw.val === 'else')) {
        nonSpace()
        if (ctx === 'top') fail(`unexpected {{${kw.val}}}`)
        if (kw.val === 'end') {
          if (nonSpace().kind !== 'right') fail('unexpected token in end')
          return [list, 'end']
        }
        return [list, 'else']
      }
      const n = action()
      if (n) list.push(n)
    }
  }

  const control = (type: 'if' | 'with' | 'range'): Node => {
    vars.push([])
    const pipe = pipeline(type, 'right')
    const [list, ended] = itemList(type)
    let elseList: Node[] | null = null
    if (ended === 'else') {
      const t = peekNonSpace()
      if (t.kind === 'identifier' && (t.val === 'if' || t.val === 'with') && t.val === type) {
        // {{else if ...}} is sugar for {{else}}{{if ...}}...{{end}}{{end}}
        nonSpace()
        elseList = [control(type)]
      } else {
        if (nonSpace().kind !== 'right') fail(`expected end; found ${t.val}`)
        const [l2, ended2] = itemList(type)
        if (ended2 !== 'end') fail(`expected end; found else`)
        elseList = l2
      }
    }
    vars.pop()
    return { type, pipe, list, elseList }
  }

  const action = (): Node | null => {
    const t = peekNonSpace()
    if (t.kind === 'identifier' && keywords.has(t.val)) {
      switch (t.val) {
        case 'if':
        case 'with':
        case 'range':
          nonSpace()
          return control(t.val)
        case 'break':
        case 'continue':
          nonSpace()
          if (nonSpace().kind !== 'right') fail(`unexpected token in {{${t.val}}}`)
          return { type: t.val }
        case 'template': {
          nonSpace()
          const nm = nonSpace()
          if (nm.kind !== 'string') fail('unexpected token in template clause')
          let pipe: PipeNode | null = null
          if (peekNonSpace().kind !== 'right') pipe = pipeline('template', 'right')
          else nonSpace()
          return { type: 'template', name: unquote(nm.val), pipe }
        }
        case 'define':
        case 'block': {
          nonSpace()
          const nm = nonSpace()
          if (nm.kind !== 'string') fail(`unexpected token in ${t.val} clause`)
          let pipe: PipeNode | null = null
          if (t.val === 'block') pipe = pipeline('block', 'right')
          else if (nonSpace().kind !== 'right') fail('unexpected token in define clause')
          const [list] = itemList('define')
          defines.set(unquote(nm.val), list)
          return t.val === 'block' ? { type: 'template', name: unquote(nm.val), pipe } : null
        }
      }
    }
    return { type: 'action', pipe: pipeline('command', 'right') }
  }

  const pipeline = (context: string, end: 'right' | 'rparen'): PipeNode => {
    const pipe: PipeNode = { decls: [], isAssign: false, cmds: [] }
    // variable declarations: $x := or $i, $e :=
    const save = i
    const v = peekNonSpace()
    if (v.kind === 'variable') {
      nonSpace()
      const after = peekNonSpace()
      if (after.kind === 'declare' || after.kind === 'assign') {
        nonSpace()
        pipe.isAssign = after.kind === 'assign'
        pipe.decls.push(v.val)
        if (!pipe.isAssign) vars[vars.length - 1].push(v.val)
      } else if (after.kind === 'comma' && context === 'range') {
        nonSpace()
        const v2 = nonSpace()
        if (v2.kind !== 'variable') fail('range can only initialize variables')
        const d = nonSpace()
        if (d.kind !== 'declare' && d.kind !== 'assign') fail('expected :=')
        pipe.decls.push(v.val, v2.val)
        vars[vars.length - 1].push(v.val, v2.val)
      } else {
        i = save
      }
    }
    for (;;) {
      const t = peekNonSpace()
      if (t.kind === end) {
        nonSpace()
        if (pipe.cmds.length === 0) fail(`missing value for ${context}`)
        return pipe
      }
      if (t.kind === 'eof' || t.kind === 'right' || t.kind === 'rparen')
        fail(`unexpected ${t.val || 'EOF'} in ${context}`)
      pipe.cmds.push(command(end))
    }
  }

  const command = (end: 'right' | 'rparen'): CommandNode => {
    const cmd: CommandNode = { args: [] }
    for (;;) {
      const t = peekNonSpace()
      if (t.kind === end || t.kind === 'eof') break
      if (t.kind === 'pipe') {
        nonSpace()
        if (cmd.args.length === 0) fail('missing command')
        return cmd
      }
      // an operand must be separated from the next by space (Go's "missing space?")
      cmd.args.push(operand())
    }
    if (cmd.args.length === 0) fail('empty command')
    return cmd
  }

  const operand = (): ArgNode => {
    const t = nonSpace()
    let node: ArgNode
    switch (t.kind) {
      case 'field':
        node = { type: 'field', idents: [t.val.slice(1)] }
        break
      case 'dot':
        node = { type: 'dot' }
        break
      case 'variable':
        if (!hasVar(t.val)) fail(`undefined variable "${t.val}"`)
        node = { type: 'variable', name: t.val, idents: [] }
        break
      case 'string':
        node = { type: 'string', value: unquote(t.val) }
        break
      case 'char':
        node = {
          type: 'number',
          value: unquote(t.val.replace(/^'|'$/g, '"')).codePointAt(0) ?? 0,
          text: t.val,
        }
        break
      case 'number': {
        const n = Number(t.val.replace(/_/g, ''))
        if (Number.isNaN(n)) fail(`illegal number syntax: "${t.val}"`)
        node = { type: 'number', value: n, text: t.val }
        break
      }
      case 'lparen':
        node = { type: 'pipe', pipe: pipeline('parenthesized pipeline', 'rparen') }
        break
      case 'identifier':
        if (t.val === 'true' || t.val === 'false') node = { type: 'bool', value: t.val === 'true' }
        else if (t.val === 'nil') node = { type: 'nil' }
        else if (keywords.has(t.val)) fail(`unexpected <${t.val}> in operand`)
        else node = { type: 'identifier', name: t.val }
        break
      default:
        return fail(`unexpected "${t.val}" in operand`)
    }
    // field chains: .A.B, $x.A, (pipe).A
    const chain: string[] = []
    while (peek().kind === 'field') chain.push(next().val.slice(1))
    if (chain.length > 0) {
      if (node.type === 'field') node.idents.push(...chain)
      else if (node.type === 'variable') node.idents.push(...chain)
      else if (node.type === 'pipe' || node.type === 'dot')
        node = { type: 'chain', node, idents: chain }
      else fail(`unexpected . after term "${t.val}"`)
    }
    return node
  }

  const [root] = itemList('top')
  return { root, defines }
}
