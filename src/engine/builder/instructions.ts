// The Dockerfile's second stage of parsing (BuildKit's frontend/dockerfile/instructions): each
// parsed node becomes a typed instruction with its flags checked, and the instructions are grouped
// into stages, with the ARGs before the first FROM kept apart as the global ("meta") args.
import { DockerfileError, goQuote } from './errors.ts'
import { parse, type Node } from './parser.ts'
import type {
  ArgDef,
  HealthConfig,
  Command,
  ArgCommand,
  Stage,
  Dockerfile,
} from './instruction-types.ts'
import { parseMount } from './run-mount.ts'
import {
  withSuggestion,
  Flags,
  errAtLeastOne,
  errExactlyOne,
  errNoDestination,
  location,
  kvps,
  shellDependent,
  interval,
  sourcesAndDest,
} from './instruction-flags.ts'

const INSTRUCTIONS = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/

function parseCommand(node: Node): Command | Stage {
  const loc = location(node)
  const flags = new Flags(node.flags)
  const args = node.args
  switch (node.keyword.toLowerCase()) {
    case 'env':
      flags.parse()
      return { ...loc, kind: 'env', env: kvps(args, 'ENV') }
    case 'label':
      flags.parse()
      return { ...loc, kind: 'label', labels: kvps(args, 'LABEL') }
    case 'maintainer':
      if (args.length !== 1) throw errExactlyOne('MAINTAINER')
      flags.parse()
      return { ...loc, kind: 'maintainer', maintainer: args[0]! }
    case 'add':
    case 'copy': {
      const add = node.keyword.toLowerCase() === 'add'
      const cmd = add ? 'ADD' : 'COPY'
      if (args.length < 2) throw errNoDestination(cmd)
      const chown = flags.string('chown')
      const chmod = flags.string('chmod')
      const link = flags.bool('link')
      const excludes = flags.strings('exclude')
      const from = add ? () => '' : flags.string('from')
      const parents = add ? () => false : flags.bool('parents')
      const keepGit = add ? flags.bool('keep-git-dir') : () => false
      const checksum = add ? flags.string('checksum') : () => ''
      const unpack = add ? flags.bool('unpack') : () => false
      flags.parse()
      return {
        ...loc,
        kind: add ? 'add' : 'copy',
        ...sourcesAndDest(node, cmd),
        from: from(),
        chown: chown(),
        chmod: chmod(),
        link: link(),
        excludes: excludes(),
        parents: parents(),
        checksum: checksum(),
        ...(add && flags.isUsed('keep-git-dir') ? { keepGitDir: keepGit() } : {}),
        ...(add && flags.isUsed('unpack') ? { unpack: unpack() } : {}),
      }
    }
    case 'from': {
      let name = ''
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        name = args[2]!.toLowerCase()
        if (!STAGE_NAME.test(name)) {
          throw new DockerfileError(
            `invalid name for build stage: ${goQuote(args[2]!)}, name can't start with a number or contain symbols`,
          )
        }
      } else if (args.length !== 1) {
        throw new DockerfileError('FROM requires either one or three arguments')
      }
      const platform = flags.string('platform')
      flags.parse()
      return { ...loc, name, baseName: args[0]!, platform: platform(), commands: [] }
    }
    case 'onbuild': {
      if (args.length === 0) throw errAtLeastOne('ONBUILD')
      flags.parse()
      const trigger = args[0]!.trim().toUpperCase()
      if (trigger === 'ONBUILD') {
        throw new DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
      }
      if (trigger === 'MAINTAINER' || trigger === 'FROM') {
        throw new DockerfileError(`${trigger} isn't allowed as an ONBUILD trigger`)
      }
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '')
      for (const h of node.heredocs) expression += `\n${h.content}${h.name}`
      return { ...loc, kind: 'onbuild', expression }
    }
    case 'workdir':
      if (args.length !== 1) throw errExactlyOne('WORKDIR')
      flags.parse()
      return { ...loc, kind: 'workdir', path: args[0]! }
    case 'run': {
      const mounts = flags.strings('mount')
      const network = flags.string('network', 'default')
      const security = flags.string('security', 'sandbox')
      flags.parse()
      const net = network()
      if (net !== 'default' && net !== 'none' && net !== 'host') {
        throw new DockerfileError(`invalid network mode ${goQuote(net)}`)
      }
      const sec = security()
      if (sec !== 'sandbox' && sec !== 'insecure') {
        throw new DockerfileError(`security mode ${goQuote(sec)} not supported`)
      }
      // Checked now for what needs no variables (a from= with one is refused here, as BuildKit does).
      for (const m of mounts()) parseMount(m, undefined)
      return {
        ...loc,
        kind: 'run',
        ...shellDependent(node, false),
        mounts: mounts(),
        network: net,
        security: sec,
      }
    }
    case 'cmd':
    case 'entrypoint': {
      flags.parse()
      const kind = node.keyword.toLowerCase() as 'cmd' | 'entrypoint'
      return { ...loc, kind, ...shellDependent(node, kind === 'entrypoint') }
    }
    case 'healthcheck':
      return { ...loc, kind: 'healthcheck', health: parseHealthcheck(node, flags) }
    case 'expose':
      if (args.length === 0) throw errAtLeastOne('EXPOSE')
      flags.parse()
      return { ...loc, kind: 'expose', ports: [...args].sort() }
    case 'user':
      if (args.length !== 1) throw errExactlyOne('USER')
      flags.parse()
      return { ...loc, kind: 'user', user: args[0]! }
    case 'volume': {
      if (args.length === 0) throw errAtLeastOne('VOLUME')
      flags.parse()
      const volumes = args.map((v) => v.trim())
      if (volumes.some((v) => v === '')) {
        throw new DockerfileError('VOLUME specified can not be an empty string')
      }
      return { ...loc, kind: 'volume', volumes }
    }
    case 'stopsignal':
      if (args.length !== 1) throw errExactlyOne('STOPSIGNAL')
      return { ...loc, kind: 'stopsignal', signal: args[0]! }
    case 'arg': {
      if (args.length < 1) throw errAtLeastOne('ARG')
      const defs: ArgDef[] = args.map((a) => {
        const eq = a.indexOf('=')
        if (eq < 0) return { key: a }
        if (eq === 0) throw new DockerfileError('ARG names can not be blank')
        return { key: a.slice(0, eq), value: a.slice(eq + 1) }
      })
      return { ...loc, kind: 'arg', args: defs }
    }
    case 'shell': {
      flags.parse()
      const sd = shellDependent(node, false)
      if (sd.cmdLine.length === 0) throw errAtLeastOne('SHELL')
      if (!node.json) throw new DockerfileError('SHELL requires the arguments to be in JSON form')
      return { ...loc, kind: 'shell', shell: sd.cmdLine }
    }
  }
  throw new DockerfileError(
    withSuggestion(`unknown instruction: ${node.keyword}`, node.keyword, INSTRUCTIONS, false),
  )
}

function parseHealthcheck(node: Node, flags: Flags): HealthConfig {
  if (node.args.length === 0) throw errAtLeastOne('HEALTHCHECK')
  let typ = node.args[0]!.toUpperCase()
  const rest = node.args.slice(1)
  if (typ === 'NONE') {
    if (rest.length !== 0) throw new DockerfileError('HEALTHCHECK NONE takes no arguments')
    return { Test: ['NONE'] }
  }
  const fInterval = flags.string('interval')
  const fTimeout = flags.string('timeout')
  const fStartPeriod = flags.string('start-period')
  const fStartInterval = flags.string('start-interval')
  const fRetries = flags.string('retries')
  flags.parse()
  if (typ !== 'CMD') {
    throw new DockerfileError(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`)
  }
  const cmd = node.json ? rest : rest.length === 0 ? [] : [rest.join(' ')]
  if (cmd.length === 0) throw new DockerfileError('Missing command after HEALTHCHECK CMD')
  if (!node.json) typ = 'CMD-SHELL'
  // Zero durations and retries are left out, as Docker's JSON omits them.
  const h: HealthConfig = { Test: [typ, ...cmd] }
  const durations: [keyof HealthConfig & string, string, string][] = [
    ['Interval', 'interval', fInterval()],
    ['Timeout', 'timeout', fTimeout()],
    ['StartPeriod', 'start-period', fStartPeriod()],
    ['StartInterval', 'start-interval', fStartInterval()],
  ]
  for (const [field, flag, value] of durations) {
    const ns = interval(flag, value)
    if (ns !== 0) (h as unknown as Record<string, number>)[field] = ns
  }
  if (fRetries() !== '') {
    const r = fRetries()
    if (!/^[-+]?\d+$/.test(r)) {
      throw new DockerfileError(`strconv.ParseInt: parsing ${goQuote(r)}: invalid syntax`)
    }
    const n = Number.parseInt(r, 10)
    if (n < 0) throw new DockerfileError(`--retries cannot be negative (${n})`)
    if (n !== 0) h.Retries = n
  }
  return h
}

/** The line-prefixed words BuildKit wraps an instruction's parse error in. */
function parseError(err: unknown, node: Node): unknown {
  if (!(err instanceof DockerfileError)) return err
  const e = new DockerfileError(`dockerfile parse error on line ${node.startLine}: ${err.message}`)
  e.startLine = node.startLine
  e.endLine = node.endLine
  return e
}

/** Parses one instruction node (ONBUILD triggers are parsed again this way when they fire). */
export function parseInstruction(node: Node): Command | Stage {
  try {
    return parseCommand(node)
  } catch (err) {
    if (err instanceof DockerfileError && err.startLine === undefined) {
      err.startLine = node.startLine
      err.endLine = node.endLine
    }
    throw err
  }
}

/** Parses a Dockerfile into its stages and global args. */
export function parseDockerfile(text: string): Dockerfile {
  if (text.length === 0) throw new DockerfileError('the Dockerfile cannot be empty')
  const parsed = parse(text)
  const stages: Stage[] = []
  const metaArgs: ArgCommand[] = []
  for (const node of parsed.nodes) {
    let cmd: Command | Stage
    try {
      cmd = parseInstruction(node)
    } catch (err) {
      throw parseError(err, node)
    }
    if ('commands' in cmd) {
      stages.push(cmd)
      continue
    }
    if (stages.length === 0) {
      if (cmd.kind === 'arg') {
        metaArgs.push(cmd)
        continue
      }
      const e = new DockerfileError('no build stage in current context')
      e.startLine = node.startLine
      e.endLine = node.endLine
      throw e
    }
    stages[stages.length - 1]!.commands.push(cmd)
  }
  if (stages.length === 0) throw new DockerfileError('dockerfile contains no stages to build')
  return {
    stages,
    metaArgs,
    escapeToken: parsed.escapeToken,
    directives: parsed.directives,
    warnings: parsed.warnings,
  }
}

export type {
  ArgCommand,
  ArgDef,
  Command,
  CopyCommand,
  Dockerfile,
  HealthConfig,
  InlineFile,
  KeyValue,
  Location,
  RunCommand,
  SourceContent,
  Stage,
} from './instruction-types.ts'
export { csvFields, parseMount, type MountType, type RunMount } from './run-mount.ts'
export { suggest, withSuggestion } from './instruction-flags.ts'
