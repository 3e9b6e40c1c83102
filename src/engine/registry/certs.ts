// TLS material for one registry as Docker reads it (moby registry.ReadCertsDirectory): the
// system's CAs plus every *.crt in certs.d/HOST:PORT/, and a client certificate from each
// *.cert with its *.key beside it.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import { errnoCode, InvalidArgument } from '../errors.ts'

export const DEFAULT_CERTS_DIR = '/etc/docker/certs.d'

/** Where Go's crypto/x509 looks for the system's CA bundle on Linux, in its order. */
const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/pki/tls/cacert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
]

let systemCAs: Promise<string[]> | undefined

/** The system's CA bundle (what Docker trusts), or Node's own roots when there is none. */
export function systemCertificates(): Promise<string[]> {
  systemCAs ??= (async () => {
    for (const f of SYSTEM_CA_FILES) {
      try {
        return [await readFile(f, 'utf8')]
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err
      }
    }
    return [...rootCertificates]
  })()
  return systemCAs
}

/** Options for node:tls connect, as undici's `connect` takes them. */
export interface TlsOptions {
  /** Replaces Node's roots, so it holds the system's too; absent: the system's only. */
  ca?: string[]
  cert?: Buffer
  key?: Buffer
  rejectUnauthorized: boolean
}

/**
 * The TLS options for a registry: the system's CAs and those in certsDir/NAME/, and the client
 * certificate there. An insecure registry skips verification; unlike Docker, which reads no files
 * for one, it still presents the client certificate, so a loopback registry that asks for one
 * can be used.
 */
export async function tlsOptionsFor(
  name: string,
  insecure: boolean,
  certsDir: string,
): Promise<TlsOptions> {
  const dir = join(certsDir, name.replace(/\//g, '_'))
  let names: string[]
  try {
    names = (await readdir(dir)).sort()
  } catch (err) {
    const code = errnoCode(err)
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err
    names = []
  }
  const extra: string[] = []
  let cert: Buffer | undefined
  let key: Buffer | undefined
  for (const f of names) {
    if (f.endsWith('.crt')) {
      extra.push(await readFile(join(dir, f), 'utf8'))
    } else if (f.endsWith('.cert')) {
      const keyName = f.slice(0, -'.cert'.length) + '.key'
      if (!names.includes(keyName)) {
        throw new InvalidArgument(
          `missing key ${keyName} for client certificate ${f}. CA certificates must use the extension .crt`,
        )
      }
      cert = await readFile(join(dir, f))
      key = await readFile(join(dir, keyName))
    } else if (f.endsWith('.key')) {
      const certName = f.slice(0, -'.key'.length) + '.cert'
      if (!names.includes(certName))
        throw new InvalidArgument(`missing client certificate ${certName} for key ${f}`)
    }
  }
  const opts: TlsOptions = insecure
    ? { rejectUnauthorized: false }
    : { ca: [...(await systemCertificates()), ...extra], rejectUnauthorized: true }
  if (cert && key) {
    opts.cert = cert
    opts.key = key
  }
  return opts
}
