import { InvalidArgument } from '../errors.ts'
import { parseNamed, tagNameOnly, type Reference } from '../reference/reference.ts'

/** A reference to tag an image with: name[:tag], never a digest; "latest" when untagged. */
export function parseTag(s: string): Reference {
  const ref = parseNamed(s)
  if (ref.digest !== undefined)
    throw new InvalidArgument('refusing to create a tag with a digest reference')
  return tagNameOnly(ref)
}
