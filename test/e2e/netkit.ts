// Helpers of the network e2e tests (network-*.test.ts): the stock docker CLI against one
// berthd, and what its "host" (the scratch network namespace) sees.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { docker, type Berthd, type RunResult } from './harness.ts'

const exec = promisify(execFile)

/** A web server container: each port serves its name (the hostname) at /. */
export function webServer(ports: number[]): string[] {
  const serve = ports.map((p, i) =>
    i === ports.length - 1
      ? `exec busybox httpd -f -p ${p} -h /www`
      : `busybox httpd -p ${p} -h /www`,
  )
  return ['sh', '-c', ['mkdir /www', 'hostname > /www/index.html', ...serve].join('; ')]
}

/** The helpers, for the berthd that d() returns (the test file's, set in before()). */
export function netKit(d: () => Berthd) {
  const dk = (args: string[]): Promise<RunResult> => docker(args, { host: d() })

  /** docker ARGS, which must succeed; its stdout. */
  async function ok(args: string[]): Promise<string> {
    const r = await dk(args)
    assert.equal(r.code, 0, `docker ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
    return r.stdout
  }

  /** A command on berthd's host (its network namespace); stdout, or throws with stderr. */
  async function onHost(argv: string[]): Promise<string> {
    const netns = d().netns as string
    const r = await exec('nsenter', [`--net=${netns}`, '--', ...argv], { timeout: 30_000 })
    return r.stdout
  }

  /**
   * GET url from the host; the body, or `error: ...`. A server in a container that was just
   * started may not listen yet: refused connections are retried for a few seconds.
   */
  async function get(url: string): Promise<string> {
    try {
      return await onHost([
        'curl',
        '-sS',
        '--max-time',
        '5',
        '--retry',
        '5',
        '--retry-connrefused',
        '--retry-delay',
        '1',
        url,
      ])
    } catch (err) {
      return `error: ${(err as { stderr?: string }).stderr ?? String(err)}`
    }
  }

  /** berth's rules, devices and namespaces on the host (its network namespace). */
  async function leftovers(): Promise<string[]> {
    const out: string[] = []
    const links = await onHost(['ip', '-o', 'link'])
    for (const l of links.split('\n')) {
      const name = l.split(':')[1]?.trim().split('@')[0] ?? ''
      if (name.startsWith('berth') || name.startsWith('veth')) out.push(`device ${name}`)
    }
    const rules = await onHost(['iptables-save'])
    for (const l of rules.split('\n')) {
      if (/^:NETAVARK-(DN-)?[0-9A-F]{13} /.test(l)) out.push(`chain ${l.split(' ')[0]}`)
      else if (/^-A .*(dnat name: |-j NETAVARK-(DN-)?[0-9A-F]{13})/.test(l)) out.push(`rule ${l}`)
    }
    // berth's own nftables tables (table ip berth, ip6 berth).
    for (const l of (await onHost(['nft', 'list', 'tables'])).split('\n')) {
      if (/^table \S+ berth/.test(l)) out.push(l)
    }
    const { stdout } = await exec('findmnt', ['-rn', '-o', 'TARGET'])
    for (const m of stdout.split('\n')) {
      if (m.startsWith(join(d().dataRoot, 'network'))) out.push(`mount ${m}`)
    }
    return out
  }

  async function rmAll(): Promise<void> {
    const ids = (await ok(['ps', '-aq'])).split('\n').filter((l) => l !== '')
    if (ids.length > 0) await ok(['rm', '-f', ...ids])
  }

  async function hostnameOf(name: string): Promise<string> {
    return (await ok(['inspect', '-f', '{{.Config.Hostname}}', name])).trim()
  }

  return { dk, ok, onHost, get, leftovers, rmAll, hostnameOf }
}
