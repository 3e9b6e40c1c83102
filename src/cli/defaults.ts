// Constants the entry needs before it loads the API client.
import { homedir } from 'node:os'
import { berthPaths, ROOT_SOCKET, type BerthPaths } from '../lib/userpaths.ts'

/** The newest Engine API version berth speaks; it negotiates down to an older daemon's. */
export const API_VERSION = '1.45'
/** Root's socket. */
export const DEFAULT_SOCKET = ROOT_SOCKET

/** The paths of the berthd this user's berth talks to (and starts): root's, or the user's own. */
export function userPaths(): BerthPaths {
  const uid = process.getuid?.() ?? 0
  return berthPaths(uid, process.env, uid === 0 ? undefined : homedir())
}

/** The socket berth talks to when no --host or BERTH_HOST names one. */
export function defaultSocket(): string {
  return userPaths().socket
}
