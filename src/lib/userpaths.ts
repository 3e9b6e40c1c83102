// Where berthd keeps its socket, data and runtime state, for root and for an ordinary user.
// One pure function, shared by berthd and by the berth CLI (its default host and its
// auto-start), so that both always agree. Root keeps /run/berth and /var/lib/berth; an
// ordinary user gets paths of their own, as rootless Docker and Podman do.

export interface BerthPaths {
  /** berthd runs as an ordinary user (rootless). */
  rootless: boolean
  /** The API's unix socket. */
  socket: string
  /** Persistent state: images, layers, containers, volumes. */
  dataRoot: string
  /**
   * Runtime state that does not outlive a reboot (rootless only: runc's root, conmon's files,
   * the user namespace's holder). As root it lives under the data root.
   */
  execRoot: string
  /** The daemon.json read when --config-file is not given. */
  configFile: string
  /**
   * A directory under /tmp that berth must make itself, private (0700) to the user, because
   * XDG_RUNTIME_DIR is unset; the caller must check that it is the user's own before use.
   */
  privateTmp?: string
}

export interface PathEnv {
  XDG_RUNTIME_DIR?: string | undefined
  XDG_DATA_HOME?: string | undefined
  XDG_CONFIG_HOME?: string | undefined
  HOME?: string | undefined
}

export const ROOT_SOCKET = '/run/berth/berth.sock'
export const ROOT_DATA_ROOT = '/var/lib/berth'
export const ROOT_CONFIG_FILE = '/etc/berth/daemon.json'

/**
 * The environment variable with which a rootless berthd tells its own re-executed self (root
 * inside the user namespace it made) which user it serves.
 */
export const ROOTLESS_UID_ENV = '_BERTH_ROOTLESS_UID'

/** Only absolute XDG directories count (the XDG Base Directory specification says so). */
function absolute(v: string | undefined): string | undefined {
  return v && v.startsWith('/') ? v.replace(/(.)\/+$/, '$1') : undefined
}

/**
 * The paths for a berthd serving `uid` (0: root). `home` is the user's home directory, used
 * when XDG_DATA_HOME / XDG_CONFIG_HOME are unset.
 */
export function berthPaths(uid: number, env: PathEnv, home?: string): BerthPaths {
  if (uid === 0) {
    return {
      rootless: false,
      socket: ROOT_SOCKET,
      dataRoot: ROOT_DATA_ROOT,
      execRoot: '/run/berth',
      configFile: ROOT_CONFIG_FILE,
    }
  }
  const runtime = absolute(env.XDG_RUNTIME_DIR)
  const privateTmp = runtime ? undefined : `/tmp/berth-${uid}`
  const execRoot = runtime ? `${runtime}/berth` : privateTmp!
  const h = absolute(env.HOME) ?? absolute(home)
  const dataHome = absolute(env.XDG_DATA_HOME) ?? (h ? `${h}/.local/share` : undefined)
  const configHome = absolute(env.XDG_CONFIG_HOME) ?? (h ? `${h}/.config` : undefined)
  return {
    rootless: true,
    socket: `${execRoot}/berth.sock`,
    // No home at all: keep the data beside the runtime state rather than anywhere shared.
    dataRoot: dataHome ? `${dataHome}/berth` : `${execRoot}/data`,
    execRoot,
    configFile: configHome ? `${configHome}/berth/daemon.json` : `${execRoot}/daemon.json`,
    ...(privateTmp ? { privateTmp } : {}),
  }
}

/**
 * The uid berth serves in this process: the real uid, or, in berthd's re-executed self inside
 * its user namespace (where it is root), the user it was started by.
 */
export function servedUid(
  uid: number,
  env: Record<string, string | undefined>,
  inUserNamespace: boolean,
): number {
  const outer = env[ROOTLESS_UID_ENV]
  if (uid === 0 && inUserNamespace && outer && /^[1-9][0-9]*$/.test(outer)) return Number(outer)
  return uid
}
