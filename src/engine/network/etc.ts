// A container's /etc/hostname, /etc/hosts and /etc/resolv.conf: written beside the container
// (as Docker does) by its network manager, and bind-mounted into it at start.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** The host's own names and resolvers, as they are (the host's network: loopback ones work). */
export async function writeHostEtcFiles(dir: string, hostname: string): Promise<void> {
  await writeFile(join(dir, 'hostname'), `${hostname}\n`)
  await writeFile(join(dir, 'hosts'), await readFile('/etc/hosts').catch(() => ''))
  await writeFile(join(dir, 'resolv.conf'), await readFile('/etc/resolv.conf').catch(() => ''))
}

/** A namespace of the container's own: Docker's hosts file and the host's usable resolvers. */
export async function writeOwnEtcFiles(dir: string, hostname: string): Promise<void> {
  await writeFile(join(dir, 'hostname'), `${hostname}\n`)
  await writeFile(join(dir, 'hosts'), hostsFile(hostname))
  await writeFile(join(dir, 'resolv.conf'), resolvConfFor(await hostResolvConf()))
}

/** Docker's /etc/hosts for a container of its own network namespace. */
export function hostsFile(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n')
}

function hostResolvConf(): Promise<string> {
  return readFile('/etc/resolv.conf', 'utf8').catch(() => '')
}

/**
 * The host's resolv.conf without loopback resolvers, which a container cannot reach; Google's
 * public ones when none is left, as Docker does.
 */
export function resolvConfFor(host: string): string {
  const lines = host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l))
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) {
    lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4')
  }
  return lines.join('\n').replace(/\n*$/, '\n')
}
