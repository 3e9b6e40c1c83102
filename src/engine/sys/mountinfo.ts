// What is mounted, as this process sees it (/proc/self/mountinfo).
import { readFile } from 'node:fs/promises'

export interface MountInfo {
  mountPoint: string
  fsType: string
  source: string
  /** Per-superblock options, e.g. overlay's lowerdir=...,upperdir=... */
  superOptions: string
}

/** The mounts this process sees, from /proc/self/mountinfo. */
export async function readMountInfo(): Promise<MountInfo[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8')
  const out: MountInfo[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const left = line.slice(0, sep).split(' ')
    const right = line.slice(sep + 3).split(' ')
    out.push({
      mountPoint: unescapeMountInfo(left[4] ?? ''),
      fsType: right[0] ?? '',
      source: unescapeMountInfo(right[1] ?? ''),
      superOptions: unescapeMountInfo(right[2] ?? ''),
    })
  }
  return out
}

// The kernel writes space, tab, newline and backslash as \ooo.
function unescapeMountInfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
}
