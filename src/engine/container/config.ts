// A container's config: Docker's merge of the image's config into the request's, the process
// it runs, and its environment. Pure.
import { InvalidArgument } from '../errors.ts'
import type { HealthConfig, ImageRunConfig } from '../image/types.ts'
import type { ContainerConfig } from './types.ts'

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** Docker's image-to-container merge (moby daemon/commit.go merge). */
export function mergeImageConfig(
  user: ContainerConfig,
  img: ImageRunConfig | undefined,
): ContainerConfig {
  const out: ContainerConfig = { ...user }
  if (!img) return out
  if (!out.User) out.User = img.User ?? ''
  if (!out.WorkingDir) out.WorkingDir = img.WorkingDir ?? ''
  if (!out.StopSignal && img.StopSignal) out.StopSignal = img.StopSignal
  const health = mergeHealthConfig(out.Healthcheck, img.Healthcheck)
  if (health) out.Healthcheck = health
  if (img.Env && img.Env.length > 0) {
    const userEnv = out.Env ?? []
    const keys = new Set(userEnv.map((e) => e.split('=')[0]))
    out.Env = [...img.Env.filter((e) => !keys.has(e.split('=')[0])), ...userEnv]
  }
  if (img.Labels) out.Labels = { ...img.Labels, ...(out.Labels ?? {}) }
  if (img.ExposedPorts) out.ExposedPorts = { ...img.ExposedPorts, ...(out.ExposedPorts ?? {}) }
  if (img.Volumes) out.Volumes = { ...img.Volumes, ...(out.Volumes ?? {}) }
  if (!out.Entrypoint || out.Entrypoint.length === 0) {
    if (!out.Cmd || out.Cmd.length === 0) out.Cmd = img.Cmd ?? null
    if (out.Entrypoint === undefined || out.Entrypoint === null)
      out.Entrypoint = img.Entrypoint ?? null
  }
  return out
}

/** dockerd's validateHealthCheck of a create request, with its words (a 400). */
export function validateHealthConfig(h: HealthConfig | undefined | null): void {
  if (!h) return
  // Docker's container.MinimumDuration: 1ms (durations are in ns).
  const tooShort = (v: number | undefined): boolean => !!v && v < 1_000_000
  const minimum = (field: string): InvalidArgument =>
    new InvalidArgument(`${field} in Healthcheck cannot be less than 1ms`)
  if (tooShort(h.Interval)) throw minimum('Interval')
  if (tooShort(h.Timeout)) throw minimum('Timeout')
  if ((h.Retries ?? 0) < 0) throw new InvalidArgument('Retries in Healthcheck cannot be negative')
  if (tooShort(h.StartPeriod)) throw minimum('StartPeriod')
  if (tooShort(h.StartInterval)) throw minimum('StartInterval')
}

/**
 * moby's merge of health checks: the request's, its unset fields taken from the image's
 * (under NONE too, as dockerd does).
 */
export function mergeHealthConfig(
  user: HealthConfig | undefined | null,
  image: HealthConfig | undefined,
): HealthConfig | undefined {
  if (!user) return image ? { ...image } : undefined
  if (!image) return user
  const out: HealthConfig = { ...user }
  if (!out.Test || out.Test.length === 0) {
    if (image.Test) out.Test = [...image.Test]
  }
  for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
    if (!out[k] && image[k]) out[k] = image[k]
  }
  return out
}

/** The process path and arguments Docker derives from Entrypoint and Cmd. */
export function entrypointAndArgs(cfg: ContainerConfig): { path: string; args: string[] } {
  const entrypoint = (cfg.Entrypoint ?? []).filter((_, i, a) => !(a.length === 1 && a[0] === ''))
  const all = [...entrypoint, ...(cfg.Cmd ?? [])]
  if (all.length === 0) throw new InvalidArgument('No command specified')
  return { path: all[0] as string, args: all.slice(1) }
}

/**
 * Builds the container's environment: Docker's defaults, then its legacy links' variables,
 * then the container's own (a later value of a name replaces the earlier one in place).
 */
export function containerEnv(
  cfg: ContainerConfig,
  hostname: string,
  linkEnv: string[] = [],
): string[] {
  const env = new Map<string, string>()
  const put = (e: string): void => {
    const eq = e.indexOf('=')
    env.set(eq < 0 ? e : e.slice(0, eq), e)
  }
  put(DEFAULT_PATH)
  put(`HOSTNAME=${hostname}`)
  if (cfg.Tty) put('TERM=xterm')
  for (const e of linkEnv) put(e)
  for (const e of cfg.Env ?? []) if (e.includes('=')) put(e)
  return [...env.values()]
}
