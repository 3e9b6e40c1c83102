// `runc update` arguments for a running container's new limits (docker update).
import type { SpecResources } from './types.ts'

/** Flags for `runc update`; only what is set is changed. A pids limit <= 0 means unlimited. */
export function runcUpdateArgs(r: SpecResources): string[] {
  const args: string[] = []
  const add = (flag: string, v: number | string | undefined): void => {
    if (v !== undefined && v !== '') args.push(`--${flag}`, String(v))
  }
  add('memory', r.memory?.limit)
  add('memory-reservation', r.memory?.reservation)
  add('memory-swap', r.memory?.swap)
  add('cpu-share', r.cpu?.shares)
  add('cpu-period', r.cpu?.period)
  add('cpu-quota', r.cpu?.quota)
  add('cpuset-cpus', r.cpu?.cpus)
  add('cpuset-mems', r.cpu?.mems)
  if (r.pids) add('pids-limit', r.pids.limit > 0 ? r.pids.limit : -1)
  return args
}
