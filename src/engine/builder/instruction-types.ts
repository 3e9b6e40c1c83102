// The typed instructions a Dockerfile parses into: commands, stages, and the Dockerfile itself.
import type { Directives } from './parser.ts'

export interface Location {
  /** 1-based lines of the instruction. */
  startLine: number
  endLine: number
  /** The instruction's text, continuations joined and trimmed. */
  original: string
  /** The keyword as written. */
  keyword: string
}

export interface KeyValue {
  key: string
  value: string
  /** The legacy `KEY value` form. */
  noDelim: boolean
}

export interface ArgDef {
  key: string
  value?: string
}

/** A file given inline by a heredoc. */
export interface InlineFile {
  name: string
  data: string
  chomp: boolean
}

export interface SourceContent {
  path: string
  data: string
  expand: boolean
}

export interface HealthConfig {
  Test: string[]
  /** Nanoseconds. */
  Interval?: number
  Timeout?: number
  StartPeriod?: number
  StartInterval?: number
  Retries?: number
}

export interface ShellDependent {
  cmdLine: string[]
  prependShell: boolean
  files: InlineFile[]
}

export type CopyCommand = Location & {
  kind: 'copy' | 'add'
  srcs: string[]
  contents: SourceContent[]
  dest: string
  from: string
  chown: string
  chmod: string
  link: boolean
  excludes: string[]
  parents: boolean
  checksum: string
  keepGitDir?: boolean
  unpack?: boolean
}

export type RunCommand = Location &
  ShellDependent & {
    kind: 'run'
    /** --mount values as written; parseMount reads them once variables are known. */
    mounts: string[]
    network: 'default' | 'none' | 'host'
    security: 'sandbox' | 'insecure'
  }

export type Command =
  | (Location & { kind: 'env'; env: KeyValue[] })
  | (Location & { kind: 'label'; labels: KeyValue[] })
  | (Location & { kind: 'maintainer'; maintainer: string })
  | CopyCommand
  | (Location & { kind: 'onbuild'; expression: string })
  | (Location & { kind: 'workdir'; path: string })
  | RunCommand
  | (Location & ShellDependent & { kind: 'cmd' | 'entrypoint' })
  | (Location & { kind: 'healthcheck'; health: HealthConfig })
  | (Location & { kind: 'expose'; ports: string[] })
  | (Location & { kind: 'user'; user: string })
  | (Location & { kind: 'volume'; volumes: string[] })
  | (Location & { kind: 'stopsignal'; signal: string })
  | (Location & { kind: 'arg'; args: ArgDef[] })
  | (Location & { kind: 'shell'; shell: string[] })

export type ArgCommand = Extract<Command, { kind: 'arg' }>

export interface Stage extends Location {
  /** The `AS` name, lower case; '' when the stage has none. */
  name: string
  /** As written; expanded with the global args when the build is planned. */
  baseName: string
  platform: string
  commands: Command[]
}

export interface Dockerfile {
  stages: Stage[]
  metaArgs: ArgCommand[]
  escapeToken: string
  directives: Directives
  warnings: string[]
}
