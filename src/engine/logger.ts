// The engine's logger: every engine module logs through this interface, and the daemon (or a
// test) decides where the lines go. Fields are flat values so that any line format can show them.

export type LogValue = string | number | boolean | null | undefined
export type LogFields = Record<string, LogValue>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
}

/** A logger that drops everything, for tests and tools. */
export const nullLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
}
