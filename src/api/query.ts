// Query string helpers with Docker's rules (moby's httputils form helpers).
import { InvalidArgument } from '../engine/errors.ts'

/** moby's BoolValue: empty, "0", "no", "false" and "none" are false; anything else is true. */
export function parseBool(v: string | null | undefined): boolean {
  switch ((v ?? '').trim().toLowerCase()) {
    case '':
    case '0':
    case 'no':
    case 'false':
    case 'none':
      return false
    default:
      return true
  }
}

export class Query {
  constructor(readonly params: URLSearchParams) {}

  /** The first value, or undefined when absent. */
  get(key: string): string | undefined {
    return this.params.get(key) ?? undefined
  }

  /** Every value given for a repeated key (`names=a&names=b`). */
  all(key: string): string[] {
    return this.params.getAll(key)
  }

  has(key: string): boolean {
    return this.params.has(key)
  }

  bool(key: string): boolean {
    return parseBool(this.params.get(key))
  }

  /** The default when the key is absent; Docker's rule otherwise. */
  boolOr(key: string, def: boolean): boolean {
    return this.params.has(key) ? this.bool(key) : def
  }

  /** An integer, the default when absent or empty; 400 when malformed. */
  int(key: string, def: number): number {
    const v = this.params.get(key)
    if (v === null || v === '') return def
    if (!/^[-+]?\d+$/.test(v)) {
      throw new InvalidArgument(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`)
    }
    return Number.parseInt(v, 10)
  }
}
