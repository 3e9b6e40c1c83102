// What a container's writable layer holds, read from its overlay upper directory: how many bytes
// and files it changed, where they are, and when it last changed. This is what would be lost if
// the container went, so it leaves out what the runtime made there (the mount point stubs of
// /etc/hostname, /etc/hosts, /etc/resolv.conf) and the mount points of volumes, binds and tmpfs
// mounts (their contents live elsewhere). It walks only the upper directory: the cost follows
// what changed, never the image's size.
import { INIT_DIRS, isInitStub, isWhiteoutStat } from './diff.ts'
import type { RWUsage, UsagePath } from './types.ts'
import { walkTree, type WalkItem } from '../tar/walk.ts'

/** Below this depth, bytes are counted towards the ancestor at it (the tree stays small). */
const MAX_DEPTH = 8
/** How many places `top` names. */
const TOP = 5

interface Node {
  bytes: number
  children?: Map<string, Node>
}

/**
 * Walks an upper directory. `skip` holds container paths (`/data`) whose entry and everything
 * under it are left out: the mount points of the container's volumes, binds and tmpfs mounts.
 */
export async function upperUsage(upper: string, skip: ReadonlySet<string>): Promise<RWUsage> {
  const root: Node = { bytes: 0, children: new Map() }
  const seen = new Set<string>()
  let bytes = 0
  let files = 0
  let deleted = 0
  let lastChangeNs = 0n
  const prune = (item: WalkItem): boolean => skip.has(item.rel)
  for await (const item of walkTree(upper, { prune })) {
    const { rel, st } = item
    if (skip.has(rel) || isInitStub(item)) continue
    if (st.isDirectory()) {
      // The runtime's own /etc (holding only its stubs) is no change of the container's; any
      // other directory's ctime moves when something in it is made or removed.
      if (!INIT_DIRS.has(rel) && st.ctimeNs > lastChangeNs) lastChangeNs = st.ctimeNs
      continue
    }
    if (st.ctimeNs > lastChangeNs) lastChangeNs = st.ctimeNs
    if (isWhiteoutStat(st)) {
      deleted++
      continue
    }
    files++
    if (!st.isFile()) continue
    // A file linked under several names is stored once.
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`
      if (seen.has(key)) continue
      seen.add(key)
    }
    const size = Number(st.size)
    bytes += size
    addBytes(root, rel, size)
  }
  return {
    bytes,
    files,
    deleted,
    lastChange: Number(lastChangeNs / 1_000_000n),
    top: topPaths(root, TOP),
  }
}

function addBytes(root: Node, rel: string, size: number): void {
  let node = root
  node.bytes += size
  const parts = rel.split('/').slice(1, MAX_DEPTH + 1)
  for (const p of parts) {
    node.children ??= new Map()
    let child = node.children.get(p)
    if (!child) {
      child = { bytes: 0 }
      node.children.set(p, child)
    }
    child.bytes += size
    node = child
  }
}

/**
 * The places that hold the bytes, as a person would name them: starting from the root, the
 * biggest place is opened into its parts while that still fits `n` lines (a directory with a
 * single part always opens, so `/root/work/data` is named rather than `/root`).
 */
export function topPaths(
  root: { bytes: number; children?: Map<string, Node> },
  n: number,
): UsagePath[] {
  let frontier: { path: string; node: Node }[] = []
  for (const [name, node] of root.children ?? []) {
    if (node.bytes > 0) frontier.push({ path: `/${name}`, node })
  }
  const closed = new Set<string>()
  for (;;) {
    const open = frontier
      .filter((f) => f.node.children !== undefined && !closed.has(f.path))
      .sort((a, b) => b.node.bytes - a.node.bytes)[0]
    if (open === undefined) break
    const parts = [...(open.node.children ?? [])].filter(([, c]) => c.bytes > 0)
    if (parts.length !== 1 && frontier.length - 1 + parts.length > n) {
      closed.add(open.path)
      continue
    }
    frontier = frontier.filter((f) => f !== open)
    for (const [name, node] of parts) frontier.push({ path: `${open.path}/${name}`, node })
  }
  return frontier
    .sort((a, b) => b.node.bytes - a.node.bytes || a.path.localeCompare(b.path))
    .slice(0, n)
    .map((f) => ({ path: f.path, bytes: f.node.bytes }))
}
