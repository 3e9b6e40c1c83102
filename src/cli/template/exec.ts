// Executes a parsed template the way Go's text/template does, over JSON-shaped data.
// Plain objects behave like Go maps (a missing key prints "<no value>"); objects carrying the
// STRUCT symbol behave like docker's formatter contexts (a missing field is an error, and
// function-valued fields are methods that may take arguments).
import { TemplateError } from './parse.ts'
import type { ArgNode, CommandNode, Node, ParsedTemplate, PipeNode } from './parse.ts'

export const STRUCT = Symbol('go struct type name')
export const NO_VALUE = Symbol('no value')

export type Func = (...args: unknown[]) => unknown

export class ExecError extends TemplateError {}

class BreakSignal {}
class ContinueSignal {}

export function isStruct(v: unknown): v is Record<string | symbol, unknown> {
  return typeof v === 'object' && v !== null && STRUCT in v
}

function typeName(v: unknown): string {
  if (isStruct(v)) return String(v[STRUCT])
  if (v === null || v === undefined || v === NO_VALUE) return 'interface {}'
  if (Array.isArray(v)) return '[]interface {}'
  if (typeof v === 'object') return 'map[string]interface {}'
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64'
  return typeof v
}

export function isTrue(v: unknown): boolean {
  if (v === null || v === undefined || v === NO_VALUE) return false
  if (typeof v === 'boolean') return v
  if (typeof v === 'number') return v !== 0
  if (typeof v === 'string') return v.length > 0
  if (Array.isArray(v)) return v.length > 0
  if (isStruct(v)) return true
  if (typeof v === 'object') return Object.keys(v).length > 0
  return true
}

/** fmt's %v for JSON-shaped values. */
export function formatValue(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>'
  if (v === null) return '<nil>'
  if (typeof v === 'string') return v
  if (typeof v === 'number') return formatNumber(v)
  if (typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return '[' + v.map(inner).join(' ') + ']'
  if (isStruct(v)) {
    const vals = Object.keys(v)
      .filter((k) => typeof v[k] !== 'function')
      .map((k) => inner(v[k]))
    return '{' + vals.join(' ') + '}'
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>
    return (
      'map[' +
      Object.keys(o)
        .sort()
        .map((k) => `${k}:${inner(o[k])}`)
        .join(' ') +
      ']'
    )
  }
  return String(v)
}

function inner(v: unknown): string {
  return v === null || v === undefined || v === NO_VALUE ? '<nil>' : formatValue(v)
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n)
  // Go's %v for float64 is %g with the shortest representation
  const s = String(n)
  if (s.includes('e')) {
    const [m, e] = s.split('e')
    const x = Number(e)
    return `${m}e${x < 0 ? '-' : '+'}${String(Math.abs(x)).padStart(2, '0')}`
  }
  return s
}

/** Value as plain JSON-able data (struct contexts expand their zero-argument methods). */
export function toPlain(v: unknown): unknown {
  if (v === NO_VALUE || v === undefined) return null
  if (Array.isArray(v)) return v.map(toPlain)
  if (isStruct(v)) {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) {
      const f = v[k]
      if (typeof f === 'function') {
        if (f.length === 0) out[k] = toPlain((f as Func)())
      } else out[k] = toPlain(f)
    }
    return out
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x)
    return out
  }
  return v
}

interface State {
  tmpl: ParsedTemplate
  funcs: Record<string, Func>
  vars: Array<[string, unknown]>
  out: string[]
  depth: number
}

export function execute(tmpl: ParsedTemplate, data: unknown, funcs: Record<string, Func>): string {
  const s: State = { tmpl, funcs, vars: [['$', data]], out: [], depth: 0 }
  walkList(s, data, tmpl.root)
  return s.out.join('')
}

function fail(msg: string): never {
  throw new ExecError(`template: :1: executing "" ${msg}`)
}

function walkList(s: State, dot: unknown, list: Node[]): void {
  for (const n of list) walk(s, dot, n)
}

function walk(s: State, dot: unknown, n: Node): void {
  switch (n.type) {
    case 'text':
      s.out.push(n.text)
      return
    case 'action': {
      const v = evalPipeline(s, dot, n.pipe)
      if (n.pipe.decls.length === 0) s.out.push(formatValue(v))
      return
    }
    case 'if':
    case 'with': {
      const mark = s.vars.length
      const v = evalPipeline(s, dot, n.pipe)
      if (isTrue(v)) walkList(s, n.type === 'with' ? v : dot, n.list)
      else if (n.elseList) walkList(s, dot, n.elseList)
      s.vars.length = mark
      return
    }
    case 'range':
      return walkRange(s, dot, n)
    case 'break':
      throw new BreakSignal()
    case 'continue':
      throw new ContinueSignal()
    case 'template': {
      const body = s.tmpl.defines.get(n.name)
      if (!body) fail(`at <{{template "${n.name}"}}>: no such template "${n.name}"`)
      if (++s.depth > 1000) fail('exceeded maximum template depth')
      const v = n.pipe ? evalPipeline(s, dot, n.pipe) : null
      const saved = s.vars
      s.vars = [['$', v]]
      walkList(s, v, body)
      s.vars = saved
      s.depth--
      return
    }
  }
}

function walkRange(
  s: State,
  dot: unknown,
  n: { pipe: PipeNode; list: Node[]; elseList: Node[] | null },
): void {
  const mark = s.vars.length
  const v = evalPipeline(s, dot, n.pipe)
  s.vars.length = mark
  let entries: Array<[unknown, unknown]> = []
  if (Array.isArray(v)) entries = v.map((x, i) => [i, x])
  else if (typeof v === 'number' && Number.isInteger(v))
    entries = Array.from({ length: Math.max(v, 0) }, (_, i) => [i, i])
  else if (v === null || v === undefined || v === NO_VALUE) entries = []
  else if (typeof v === 'object' && !isStruct(v)) {
    const o = v as Record<string, unknown>
    entries = Object.keys(o)
      .sort()
      .map((k) => [k, o[k]])
  } else fail(`range can't iterate over ${formatValue(v)}`)
  if (entries.length === 0) {
    if (n.elseList) walkList(s, dot, n.elseList)
    return
  }
  for (const [k, x] of entries) {
    if (n.pipe.decls.length === 1) s.vars.push([n.pipe.decls[0], x])
    else if (n.pipe.decls.length === 2) s.vars.push([n.pipe.decls[0], k], [n.pipe.decls[1], x])
    try {
      walkList(s, x, n.list)
    } catch (e) {
      if (e instanceof BreakSignal) {
        s.vars.length = mark
        break
      }
      if (!(e instanceof ContinueSignal)) throw e
    }
    s.vars.length = mark
  }
}

function setVar(s: State, name: string, v: unknown, declare: boolean): void {
  if (declare) {
    s.vars.push([name, v])
    return
  }
  for (let i = s.vars.length - 1; i >= 0; i--) {
    if (s.vars[i][0] === name) {
      s.vars[i][1] = v
      return
    }
  }
  fail(`undefined variable: ${name}`)
}

function getVar(s: State, name: string): unknown {
  for (let i = s.vars.length - 1; i >= 0; i--) if (s.vars[i][0] === name) return s.vars[i][1]
  return fail(`undefined variable: ${name}`)
}

function evalPipeline(s: State, dot: unknown, pipe: PipeNode): unknown {
  let v: unknown = undefined
  let hasFinal = false
  for (const cmd of pipe.cmds) {
    v = evalCommand(s, dot, cmd, hasFinal, v)
    hasFinal = true
  }
  if (pipe.decls.length === 1) setVar(s, pipe.decls[0], v, !pipe.isAssign)
  return v
}

function evalCommand(
  s: State,
  dot: unknown,
  cmd: CommandNode,
  hasFinal: boolean,
  final: unknown,
): unknown {
  const first = cmd.args[0]
  const rest = cmd.args.slice(1)
  switch (first.type) {
    case 'field':
      return evalFieldChain(s, dot, dot, first.idents, rest, hasFinal, final)
    case 'chain': {
      const base = evalArg(s, dot, first.node)
      return evalFieldChain(s, dot, base, first.idents, rest, hasFinal, final)
    }
    case 'variable': {
      const base = getVar(s, first.name)
      if (first.idents.length === 0) {
        notAFunction(cmd, hasFinal)
        return base
      }
      return evalFieldChain(s, dot, base, first.idents, rest, hasFinal, final)
    }
    case 'identifier':
      return callFunc(s, dot, first.name, rest, hasFinal, final)
    case 'pipe':
      notAFunction(cmd, hasFinal)
      return evalPipeline(s, dot, first.pipe)
    default:
      notAFunction(cmd, hasFinal)
      return evalArg(s, dot, first)
  }
}

function notAFunction(cmd: CommandNode, hasFinal: boolean): void {
  if (cmd.args.length > 1 || hasFinal)
    fail(`can't give argument to non-function ${describe(cmd.args[0])}`)
}

function describe(a: ArgNode): string {
  switch (a.type) {
    case 'field':
      return '.' + a.idents.join('.')
    case 'variable':
      return a.name + a.idents.map((x) => '.' + x).join('')
    case 'string':
      return JSON.stringify(a.value)
    case 'number':
      return a.text
    case 'identifier':
      return a.name
    case 'dot':
      return '.'
    default:
      return a.type
  }
}

function evalArg(s: State, dot: unknown, a: ArgNode): unknown {
  switch (a.type) {
    case 'dot':
      return dot
    case 'string':
      return a.value
    case 'number':
      return a.value
    case 'bool':
      return a.value
    case 'nil':
      return null
    case 'field':
      return evalFieldChain(s, dot, dot, a.idents, [], false, undefined)
    case 'variable': {
      const base = getVar(s, a.name)
      return a.idents.length ? evalFieldChain(s, dot, base, a.idents, [], false, undefined) : base
    }
    case 'pipe':
      return evalPipeline(s, dot, a.pipe)
    case 'chain':
      return evalFieldChain(s, dot, evalArg(s, dot, a.node), a.idents, [], false, undefined)
    case 'identifier':
      return callFunc(s, dot, a.name, [], false, undefined)
  }
}

function evalFieldChain(
  s: State,
  dot: unknown,
  receiver: unknown,
  idents: string[],
  args: ArgNode[],
  hasFinal: boolean,
  final: unknown,
): unknown {
  const n = idents.length
  for (let i = 0; i < n - 1; i++)
    receiver = evalField(s, dot, idents[i], receiver, [], false, undefined)
  return evalField(s, dot, idents[n - 1], receiver, args, hasFinal, final)
}

function evalField(
  s: State,
  dot: unknown,
  name: string,
  receiver: unknown,
  args: ArgNode[],
  hasFinal: boolean,
  final: unknown,
): unknown {
  const hasArgs = args.length > 0 || hasFinal
  if (receiver === null || receiver === undefined || receiver === NO_VALUE) {
    fail(`at <.${name}>: nil pointer evaluating interface {}.${name}`)
  }
  if (isStruct(receiver)) {
    if (!(name in receiver))
      fail(`at <.${name}>: can't evaluate field ${name} in type ${typeName(receiver)}`)
    const f = receiver[name]
    if (typeof f === 'function') {
      const argv = args.map((a) => evalArg(s, dot, a))
      if (hasFinal) argv.push(final)
      if (argv.length !== f.length) {
        fail(`at <.${name}>: wrong number of args for ${name}: want ${f.length} got ${argv.length}`)
      }
      return (f as Func)(...argv)
    }
    if (hasArgs) fail(`at <.${name}>: ${name} has arguments but cannot be invoked as function`)
    return f
  }
  if (typeof receiver === 'object' && !Array.isArray(receiver)) {
    if (hasArgs) fail(`at <.${name}>: ${name} is not a method but has arguments`)
    const o = receiver as Record<string, unknown>
    return Object.prototype.hasOwnProperty.call(o, name) ? o[name] : NO_VALUE
  }
  return fail(`at <.${name}>: can't evaluate field ${name} in type ${typeName(receiver)}`)
}

function callFunc(
  s: State,
  dot: unknown,
  name: string,
  args: ArgNode[],
  hasFinal: boolean,
  final: unknown,
): unknown {
  const f = s.funcs[name]
  if (!f) fail(`at <${name}>: function "${name}" not defined`)
  const argv = args.map((a) => evalArg(s, dot, a))
  if (hasFinal) argv.push(final)
  try {
    return f(...argv)
  } catch (e) {
    if (e instanceof TemplateError) throw e
    return fail(`at <${name}>: error calling ${name}: ${(e as Error).message}`)
  }
}
