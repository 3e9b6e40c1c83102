// How Docker describes a path in a container (its ContainerPathStat, the X-Docker-Container-
// Path-Stat header of docker cp): Go's FileMode bits, Go's RFC 3339 times and base names, and
// Docker's words for a path that is not there. Pure.
import type { BigIntStats } from 'node:fs'
import { NotFound } from '../errors.ts'

/** What goFileMode reads of a stat. */
export type StatLike = Pick<
  BigIntStats,
  | 'mode'
  | 'isDirectory'
  | 'isSymbolicLink'
  | 'isFIFO'
  | 'isSocket'
  | 'isCharacterDevice'
  | 'isBlockDevice'
>

// Go's os.FileMode type bits.
const GO_DIR = 2 ** 31
const GO_SYMLINK = 2 ** 27
const GO_DEVICE = 2 ** 26
const GO_PIPE = 2 ** 25
const GO_SOCKET = 2 ** 24
const GO_SETUID = 2 ** 23
const GO_SETGID = 2 ** 22
const GO_CHARDEV = 2 ** 21
const GO_STICKY = 2 ** 20

/** A stat's mode as Go's os.FileMode, which Docker's clients decode. */
export function goFileMode(st: StatLike): number {
  let m = Number(st.mode & 0o777n)
  if (st.isDirectory()) m += GO_DIR
  else if (st.isSymbolicLink()) m += GO_SYMLINK
  else if (st.isFIFO()) m += GO_PIPE
  else if (st.isSocket()) m += GO_SOCKET
  else if (st.isCharacterDevice()) m += GO_DEVICE + GO_CHARDEV
  else if (st.isBlockDevice()) m += GO_DEVICE
  if (st.mode & 0o4000n) m += GO_SETUID
  if (st.mode & 0o2000n) m += GO_SETGID
  if (st.mode & 0o1000n) m += GO_STICKY
  return m
}

/** A time in nanoseconds as Go's RFC 3339 with nanoseconds, trailing zeros dropped. */
export function rfc3339(ns: bigint): string {
  const s = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '')
  return `${s}${frac ? `.${frac}` : ''}Z`
}

/** Go's filepath.Base. */
export function goBase(p: string): string {
  if (p === '') return '.'
  const t = p.replace(/\/+$/, '')
  if (t === '') return '/'
  return t.slice(t.lastIndexOf('/') + 1)
}

export function notFoundIn(path: string, ref: string): NotFound {
  return new NotFound(`Could not find the file ${path} in container ${ref}`)
}
