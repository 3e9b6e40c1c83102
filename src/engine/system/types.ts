// What the engine and its host really have, as `GET /info` reports it: facts read from the
// host (cgroup version, the data root's filesystem) and the drivers the engine is wired with.

export interface SystemInfo {
  /** "2" on a unified cgroup v2 host; "1" on a legacy or hybrid one (Docker's rule). */
  cgroupVersion: '1' | '2'
  /** Who manages the containers' cgroups: berth writes them itself (runc's cgroupfs driver). */
  cgroupDriver: 'cgroupfs' | 'systemd'
  /** The storage driver, and its status lines as `docker info` prints them. */
  storageDriver: string
  driverStatus: [string, string][]
  /** The drivers this engine has: Docker's Plugins section. */
  plugins: { volume: string[]; network: string[]; log: string[] }
}

/** The engine's answer to `GET /info`'s questions about itself and its host. */
export interface SystemApi {
  info(): Promise<SystemInfo>
}
