// The I/O half of a container's confinement: device nodes and group ids, read at start with
// the root filesystem mounted and handed to the task runner with the pure part (oci.ts).
import { readFile } from 'node:fs/promises'
import { resolveInRoot } from '../fsroot.ts'
import type { DeviceNode, HostDevices } from '../runtime/types.ts'
import { groupAdd, hostConfigDevices, resolveGroupAdd } from './oci.ts'
import type { HostConfig } from './types.ts'

export async function rootfsConfinement(
  hc: HostConfig,
  rootfs: string,
  host: HostDevices,
): Promise<{ devices: DeviceNode[]; additionalGids: number[] }> {
  const devices: DeviceNode[] = hc.Privileged === true ? await host.all() : []
  for (const d of hostConfigDevices(hc)) {
    const nodes = await host.fromPath(d.PathOnHost, d.PathInContainer, d.CgroupPermissions)
    for (const n of nodes) {
      const i = devices.findIndex((x) => x.path === n.path)
      if (i >= 0) devices.splice(i, 1)
      devices.push(n)
    }
  }
  const wanted = groupAdd(hc)
  let additionalGids: number[] = []
  if (wanted.length > 0) {
    const etcGroup = wanted.every((g) => /^\d+$/.test(g))
      ? ''
      : await readFile(await resolveInRoot(rootfs, '/etc/group'), 'utf8').catch(() => '')
    additionalGids = resolveGroupAdd(wanted, etcGroup)
  }
  return { devices, additionalGids }
}
