import { readFileSync } from 'node:fs'

/**
 * True when this process runs in a user namespace other than the host's: its uid_map is not the
 * whole identity map (runc's RunningInUserNS decides the same way).
 */
export function inUserNamespace(): boolean {
  return !/^\s*0\s+0\s+4294967295\s*$/.test(readFileSync('/proc/self/uid_map', 'utf8'))
}
