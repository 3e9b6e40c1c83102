// The initial size of a container's pty.
import type { ConsoleSize } from '../runtime/types.ts'
import type { Container } from './types.ts'

/**
 * The size HostConfig.ConsoleSize asks for the container's pty (the docker CLI's `run -it`
 * sends its terminal's size), so runc sizes it before the process runs; undefined without a
 * TTY or a valid size.
 */
export function consoleSizeOf(c: Container): ConsoleSize | undefined {
  const size = c.hostConfig.ConsoleSize
  if (!c.config.Tty || !Array.isArray(size) || size.length !== 2) return undefined
  const [height, width] = size as unknown[]
  if (typeof height !== 'number' || typeof width !== 'number' || height <= 0 || width <= 0) {
    return undefined
  }
  return { height, width }
}
