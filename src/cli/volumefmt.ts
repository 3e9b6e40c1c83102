// docker's volumeContext: the fields a `volume ls --format` template can use, and the headers.
import { STRUCT } from './template/index.ts'
import { humanSize } from '../lib/units.ts'

export interface VolumeSummary {
  Name: string
  Driver: string
  Mountpoint: string
  CreatedAt?: string
  Labels?: Record<string, string> | null
  Scope: string
  Options?: Record<string, string> | null
  UsageData?: { Size: number; RefCount: number } | null
}

export const volumeHeaders: Record<string, string> = {
  Name: 'VOLUME NAME',
  Driver: 'DRIVER',
  Scope: 'SCOPE',
  Mountpoint: 'MOUNTPOINT',
  Labels: 'LABELS',
  Links: 'LINKS',
  Size: 'SIZE',
  Group: 'GROUP',
  Availability: 'AVAILABILITY',
  Status: 'STATUS',
}

export function volumeContext(v: VolumeSummary): object {
  return {
    [STRUCT]: '*formatter.volumeContext',
    Name: () => v.Name,
    Driver: () => v.Driver,
    Scope: () => v.Scope,
    Mountpoint: () => v.Mountpoint,
    Labels: () =>
      Object.entries(v.Labels ?? {})
        .map(([k, x]) => `${k}=${x}`)
        .join(','),
    Label: (name: unknown) => v.Labels?.[String(name)] ?? '',
    Links: () => (v.UsageData ? String(v.UsageData.RefCount) : 'N/A'),
    Size: () => (v.UsageData ? humanSize(v.UsageData.Size) : 'N/A'),
    Group: () => 'N/A',
    Availability: () => 'N/A',
    Status: () => 'N/A',
  }
}
