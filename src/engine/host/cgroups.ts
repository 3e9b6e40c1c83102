// Where containers' cgroups go (cgroupfs layout): one parent for all, one child per container.

/**
 * Docker's layout is `/docker/<id>`; ours is `/berth/<id>`. Absolute, so a container's cgroup
 * does not nest under berthd's (a service manager stopping berthd must not take its
 * containers with it).
 */
export const DEFAULT_CGROUP_PARENT = '/berth'

/** The cgroupsPath of the container `id` under `parent`. */
export function cgroupsPath(parent: string, id: string): string {
  return `${parent}/${id}`
}
