// docker/distribution reference parsing (ParseNormalizedNamed) with its error words.

const component = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*'
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`
const nameRe = new RegExp(`^(?:${domain}/)?${component}(?:/${component})*$`)
const tagRe = /^[\w][\w.-]{0,127}$/
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/

export interface Reference {
  /** normalized name, e.g. docker.io/library/busybox */
  name: string
  tag?: string
  digest?: string
}

export class ReferenceError extends Error {}

export function parseNormalizedNamed(s: string): Reference {
  if (/^[a-f0-9]{64}$/.test(s)) {
    throw new ReferenceError(
      'invalid repository name (' + s + '), cannot specify 64-byte hexadecimal strings',
    )
  }
  let rest = s
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!digestRe.test(digest)) throw new ReferenceError('invalid reference format')
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon >= 0 && !rest.slice(colon).includes('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!tagRe.test(tag)) throw new ReferenceError('invalid reference format')
  }
  // split domain the way splitDockerDomain does
  let dom = 'docker.io'
  let remainder = rest
  const slash = rest.indexOf('/')
  if (slash >= 0) {
    const first = rest.slice(0, slash)
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first.toLowerCase() !== first
    ) {
      dom = first
      remainder = rest.slice(slash + 1)
    }
  }
  if (dom === 'index.docker.io') dom = 'docker.io'
  if (dom === 'docker.io' && !remainder.includes('/')) remainder = 'library/' + remainder
  if (remainder.toLowerCase() !== remainder) {
    throw new ReferenceError(
      `invalid reference format: repository name (${remainder}) must be lowercase`,
    )
  }
  const name = `${dom}/${remainder}`
  if (!rest || !nameRe.test(name)) throw new ReferenceError('invalid reference format')
  if (name.length > 255)
    throw new ReferenceError('repository name must not be more than 255 characters')
  return { name, tag, digest }
}

/** reference.FamiliarString */
export function familiarString(r: Reference): string {
  let n = r.name
  if (n.startsWith('docker.io/library/') && !n.slice(18).includes('/')) n = n.slice(18)
  else if (n.startsWith('docker.io/')) n = n.slice(10)
  return n + (r.tag ? ':' + r.tag : '') + (r.digest ? '@' + r.digest : '')
}
