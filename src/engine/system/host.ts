// Host facts for SystemInfo, read the way dockerd reads them: the cgroup mode from the
// filesystem type of /sys/fs/cgroup, the backing filesystem from the data root's statfs magic.
import { statfs } from 'node:fs/promises'
import type { Gpus } from '../gpu/types.ts'
import type { NetworkManager } from '../network/types.ts'
import type { SystemApi, SystemInfo } from './types.ts'

const CGROUP2_SUPER_MAGIC = 0x63677270

/** moby's fstype.FsNames: statfs magic → the name overlay2 reports as "Backing Filesystem". */
const FS_NAMES: Record<number, string> = {
  0x61756673: 'aufs',
  0x9123683e: 'btrfs',
  0x28cd3d45: 'cramfs',
  0xf15f: 'ecryptfs',
  0xef53: 'extfs',
  0xf2f52010: 'f2fs',
  0x65735546: 'fuse',
  0x47504653: 'gpfs',
  0x72b6: 'jffs2',
  0x3153464a: 'jfs',
  0x6969: 'nfs',
  0x794c7630: 'overlayfs',
  0x858458f6: 'ramfs',
  0x52654973: 'reiserfs',
  0x517b: 'smb',
  0x73717368: 'squashfs',
  0x01021994: 'tmpfs',
  0xa501fcf5: 'vxfs',
  0x58465342: 'xfs',
  0x2fc12fc1: 'zfs',
}

/** "2" only when /sys/fs/cgroup itself is cgroup2 (unified); hybrid hosts are "1" to Docker. */
export async function cgroupVersion(root = '/sys/fs/cgroup'): Promise<'1' | '2'> {
  const s = await statfs(root)
  return s.type === CGROUP2_SUPER_MAGIC ? '2' : '1'
}

/** Docker's name for the filesystem under `dir`, "<unknown>" for one it has no name for. */
export async function backingFilesystem(dir: string): Promise<string> {
  const s = await statfs(dir)
  // statfs's f_type is a signed long; the magics above are unsigned 32-bit.
  return FS_NAMES[s.type >>> 0] ?? '<unknown>'
}

export interface HostSystemOptions {
  /** The directory layers live in (overlay2's home). */
  layerDir: string
  /** The volume and log drivers the engine is wired with. */
  plugins: Omit<SystemInfo['plugins'], 'network'>
  /** The network manager wired, asked for its drivers at each request. */
  networks: Pick<NetworkManager, 'drivers'>
  cgroupRoot?: string
  /** The GPU module: asked afresh each time (a driver loaded or a CDI spec written is seen). */
  gpus?: Pick<Gpus, 'inventory'>
  /** berthd runs without root; limits are refused when resourceLimits is false. */
  rootless?: boolean
  resourceLimits?: boolean
}

/** SystemInfo read from this host; the host facts are read once (they do not change under us). */
export class HostSystem implements SystemApi {
  private facts: Promise<{ cgroup: '1' | '2'; backing: string }> | undefined

  constructor(private readonly opts: HostSystemOptions) {}

  async info(): Promise<SystemInfo> {
    this.facts ??= (async () => ({
      cgroup: await cgroupVersion(this.opts.cgroupRoot),
      backing: await backingFilesystem(this.opts.layerDir),
    }))().catch((err: unknown) => {
      // Not cached: the next request asks the host again.
      this.facts = undefined
      throw err
    })
    const [{ cgroup, backing }, gpus] = await Promise.all([this.facts, this.opts.gpus?.inventory()])
    return {
      cgroupVersion: cgroup,
      cgroupDriver: 'cgroupfs',
      storageDriver: 'overlay2',
      driverStatus: [
        ['Backing Filesystem', backing],
        ['Supports d_type', 'true'],
        ['Using metacopy', 'false'],
        ['Native Overlay Diff', 'true'],
        ['userxattr', 'false'],
      ],
      plugins: {
        volume: [...this.opts.plugins.volume],
        network: [...this.opts.networks.drivers()],
        log: [...this.opts.plugins.log],
      },
      ...(gpus ? { gpus } : {}),
      ...(this.opts.rootless ? { rootless: true } : {}),
      ...(this.opts.resourceLimits === false ? { resourceLimits: false } : {}),
    }
  }
}
