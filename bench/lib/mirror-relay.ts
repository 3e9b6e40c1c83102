// The Debian mirror made reachable from the build containers of an engine that lives in a network
// namespace with no way out (the build bench's berthd and dockerd): apt in a RUN step is given
// the predefined `http_proxy` build arg pointing at the namespace's bridge gateway, where a
// listener (a node process entered there with nsenter) forwards each connection over a unix
// socket (not bound to a network namespace) to this process, which connects it to the mirror's
// host on port 80. apt sends a proxy absolute-form requests (`GET http://host/path`), which the
// mirror's HTTP server accepts, so the bytes pass through unchanged. Docker's builders and berth
// keep proxy args out of the cache key and the image, so the images are the same as with a direct
// route. The relay is the registry tests' (test/registry/relay.ts), listening on every address.
import { lookup } from 'node:dns/promises'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { relayAcross, type NetnsRelay } from '../../test/registry/relay.ts'

export type MirrorRelay = NetnsRelay

/** The host of the Debian mirror this machine's apt uses (deb822 .sources or one-line lists). */
export async function aptMirrorHost(): Promise<string> {
  const texts: string[] = []
  for (const f of ['/etc/apt/sources.list']) texts.push(await readFile(f, 'utf8').catch(() => ''))
  const dir = '/etc/apt/sources.list.d'
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (f.endsWith('.sources') || f.endsWith('.list')) {
      texts.push(await readFile(join(dir, f), 'utf8').catch(() => ''))
    }
  }
  for (const t of texts) {
    for (const m of t.matchAll(/^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(http:\/\/[^\s]+)/gm)) {
      const url = new URL(m[1]!)
      if (!url.pathname.includes('-security')) return url.host
    }
  }
  return 'deb.debian.org'
}

/**
 * Listens on 0.0.0.0:`port` inside the network namespace `nsPath` (a /proc/PID/ns/net or a
 * bind-mounted namespace file) and connects what arrives to `mirrorHost` port 80 from here.
 */
export async function relayMirrorIntoNetns(
  nsPath: string,
  port: number,
  mirrorHost: string,
): Promise<MirrorRelay> {
  const { address } = await lookup(mirrorHost)
  return relayAcross(nsPath, { host: '0.0.0.0', port }, { host: address, port: 80 })
}
