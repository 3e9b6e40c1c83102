// Docker's AuthConfig on the wire: the X-Registry-Auth header (base64url of the JSON, as the
// docker CLI sends it) and the JSON body of POST /auth. Field names match case-insensitively, as
// Go's encoding/json does.
import { InvalidArgument } from '../errors.ts'
import { registryOfServerAddress } from './endpoint.ts'
import type { AuthConfig } from './types.ts'

const FIELDS: (keyof AuthConfig)[] = [
  'username',
  'password',
  'auth',
  'email',
  'serveraddress',
  'identitytoken',
  'registrytoken',
]

/** An AuthConfig from parsed JSON; unknown fields are ignored, wrong types refused. */
export function authConfigFromJson(value: unknown): AuthConfig {
  if (value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgument('json: cannot unmarshal into Go value of type registry.AuthConfig')
  }
  const out: AuthConfig = {}
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const field = FIELDS.find((f) => f === k.toLowerCase())
    if (!field || v === null) continue
    if (typeof v !== 'string') {
      throw new InvalidArgument(
        `json: cannot unmarshal ${typeof v} into Go struct field AuthConfig.${field} of type string`,
      )
    }
    out[field] = v
  }
  return out
}

/**
 * moby's DecodeAuthConfig: base64url (padded or not; the standard alphabet is let through too)
 * of one JSON object. Empty is an empty AuthConfig. Pull and push ignore a header that does not
 * decode, as Docker does, so the error is returned beside an empty AuthConfig, not thrown.
 */
export function decodeAuthHeader(header: string | undefined): {
  auth: AuthConfig
  error?: InvalidArgument
} {
  if (!header) return { auth: {} }
  try {
    if (!/^[A-Za-z0-9_\-+/]*={0,2}$/.test(header)) throw new Error('illegal base64 data')
    const json = Buffer.from(header, 'base64url').toString('utf8')
    return { auth: authConfigFromJson(JSON.parse(json)) }
  } catch (err) {
    return {
      auth: {},
      error: new InvalidArgument(`invalid X-Registry-Auth header: ${(err as Error).message}`, {
        cause: err,
      }),
    }
  }
}

/**
 * The X-Registry-Config header of POST /build: base64url of one JSON object mapping registries
 * (as config.json names them: a host[:port], or https://index.docker.io/v1/ for Docker Hub) to
 * AuthConfigs. Like X-Registry-Auth, a header that does not decode means no credentials.
 */
export function decodeRegistryConfig(header: string | undefined): Map<string, AuthConfig> {
  const out = new Map<string, AuthConfig>()
  if (!header) return out
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))
  } catch {
    return out
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return out
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    try {
      out.set(registryOfServerAddress(key), authConfigFromJson(v))
    } catch {
      // an entry that does not parse gives no credentials, as Docker ignores it
    }
  }
  return out
}

/** The credentials of `configs` for a reference's registry (docker.io, localhost:5000). */
export function authForRegistry(
  configs: ReadonlyMap<string, AuthConfig>,
  domain: string,
): AuthConfig | undefined {
  return configs.get(domain === 'index.docker.io' ? 'docker.io' : domain)
}
