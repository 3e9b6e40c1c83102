// The initial size of a container's pty.
import type { Container } from './types.ts'

/**
 * The container's spec with its pty sized as HostConfig.ConsoleSize asks (the docker CLI's
 * `run -it` sends its terminal's size), so runc sizes it before the process runs.
 */
export function withConsoleSize<T extends object>(spec: T, c: Container): T {
  const size = c.hostConfig.ConsoleSize
  if (!c.config.Tty || !Array.isArray(size) || size.length !== 2) return spec
  const [height, width] = size as unknown[]
  if (typeof height !== 'number' || typeof width !== 'number' || height <= 0 || width <= 0) {
    return spec
  }
  const s = spec as { process?: Record<string, unknown> }
  if (s.process) s.process = { ...s.process, consoleSize: { height, width } }
  return spec
}
