// The corpus of tricky Dockerfiles: each case is a directory holding `context/` (the build
// context, Dockerfile included), `case.json` (how to build it), `expected.json` (what a real
// engine made of it, written by record-corpus.ts) and, for syntax newer than the oracle, `oracle/`
// (files laid over the context for the oracle's build of an equivalent case).
import { join } from 'node:path'

export interface CaseSpec {
  /** What the case checks, in a sentence. */
  about: string
  /** The Dockerfile's path inside the context; "Dockerfile" when absent. */
  dockerfile?: string
  buildArgs?: Record<string, string>
  target?: string
  /**
   * Which engine's result berth must match: BuildKit's by default. "classic" where BuildKit 0.8
   * cannot build the case at all (a `syntax` directive it would fetch from a registry).
   */
  expect?: 'buildkit' | 'classic'
  /**
   * Why the files in `oracle/`, when present, make an equivalent case: the syntax the case tests
   * is newer than the oracle's BuildKit 0.8, so the oracle builds the context with these files laid
   * over it, and berth must give the same result for the real thing.
   */
  equivalence?: string
  /** A difference from the oracle that berth makes on purpose, and why. */
  differs?: string
  /** With `differs`: the error berth gives instead of the oracle's result. */
  error?: string
  /** With `differs`: paths the oracle's image has that berth's (and modern BuildKit's) has not. */
  drop?: string[]
  /** Permission bits to give context paths before building (git keeps only the x bit). */
  modes?: Record<string, string>
  /**
   * Symlinks to make in the context before building (path: target), kept out of the repository
   * where a dangling or looping one would trip tools that walk it.
   */
  symlinks?: Record<string, string>
}

export interface FileEntry {
  path: string
  /** dir, file, symlink, link (hardlink), deleted (was in the base image), ... */
  type: string
  /** Permission bits in octal, 4 digits. */
  mode: string
  uid: number
  gid: number
  size?: number
  sha256?: string
  /** The text of a small text file, for the reader (sha256 is what counts). */
  content?: string
  link?: string
}

export type EngineResult =
  | {
      ok: true
      /** The non-empty fields of the image's run config, and Author. */
      config: Record<string, unknown>
      /** Files that differ from busybox:latest's, sorted by path. */
      files: FileEntry[]
      warnings?: string[]
    }
  | { ok: false; error: string }

export interface Expected {
  buildkit: EngineResult
  classic: EngineResult
}

export function caseDir(name: string): string {
  return join(new URL('./corpus/', import.meta.url).pathname, name)
}
