// Certificates for registry tests, made with openssl: a CA, a server certificate for 127.0.0.1 and
// localhost signed by it, a client certificate signed by it, and a self-signed key pair for a
// token issuer to sign JWTs with. EC P-256 keys, which openssl makes in milliseconds.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd })
}

export interface Pki {
  dir: string
  caCert: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
}

async function signed(dir: string, name: string, cn: string, ext: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), ext)
  await openssl(dir, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`)
  await openssl(
    dir,
    'req',
    '-new',
    '-key',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  )
  await openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  )
}

/**
 * A CA with a server (for localhost, 127.0.0.1, `extraIps` and `extraNames`) and a client
 * certificate, in dir.
 */
export async function makePki(
  dir: string,
  extraIps: string[] = [],
  extraNames: string[] = [],
): Promise<Pki> {
  await openssl(dir, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key')
  await openssl(
    dir,
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=berth test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  )
  await signed(
    dir,
    'server',
    'localhost',
    `subjectAltName=DNS:localhost,IP:127.0.0.1${extraIps.map((ip) => `,IP:${ip}`).join('')}` +
      `${extraNames.map((n) => `,DNS:${n}`).join('')}\nextendedKeyUsage=serverAuth\n`,
  )
  await signed(dir, 'client', 'berth test client', 'extendedKeyUsage=clientAuth\n')
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  }
}

/** A self-signed key pair for signing tokens; the certificate is the registry's root bundle. */
export async function makeSigningKey(dir: string): Promise<{ cert: string; key: string }> {
  await openssl(dir, 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'token.key')
  await openssl(
    dir,
    'req',
    '-x509',
    '-new',
    '-key',
    'token.key',
    '-out',
    'token.crt',
    '-days',
    '2',
    '-subj',
    '/CN=berth test token issuer',
  )
  return { cert: join(dir, 'token.crt'), key: join(dir, 'token.key') }
}
