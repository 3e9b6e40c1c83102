// The machine and the versions a run measured, for the report's header.
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../test/e2e/harness.ts'
import { firstLine, sh } from './proc.ts'

export async function machine(): Promise<Record<string, string>> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '')
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown'
  const release = await readFile('/etc/os-release', 'utf8').catch(() => '')
  const osName = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(release)?.[1] ?? os.type()
  return {
    nproc: firstLine((await sh('nproc', [])).stdout),
    cpu: cpu.trim(),
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: os.release(),
    os: osName,
  }
}

/** `cmd args` → the version-looking word of its first line, or 'not installed'. */
async function versionOf(cmd: string, args: string[], pick: RegExp): Promise<string> {
  try {
    const r = await sh(cmd, args, { timeoutMs: 10_000 })
    if (r.code !== 0) return 'not installed'
    return pick.exec(r.stdout + r.stderr)?.[1] ?? firstLine(r.stdout)
  } catch {
    return 'not installed'
  }
}

export async function versions(dockerCli: string | undefined): Promise<Record<string, string>> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
    version: string
  }
  const rev = await sh('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'])
  const dirty = await sh('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no'])
  const commit = `${firstLine(rev.stdout) || 'unknown'}${dirty.stdout.trim() !== '' ? '+dirty' : ''}`
  const ver = /(\d+\.\d+\.\d+[\w.+~-]*)/
  return {
    berth: `${pkg.version} (${commit})`,
    node: process.version,
    'docker CLI':
      dockerCli === undefined ? 'not installed' : await versionOf(dockerCli, ['--version'], ver),
    dockerd: await versionOf('dockerd', ['--version'], ver),
    podman: await versionOf('podman', ['--version'], ver),
    runc: await versionOf('runc', ['--version'], ver),
    conmon: await versionOf('conmon', ['--version'], ver),
  }
}
