// The one error src/lib throws: input that does not follow Docker's grammar. Its message is
// Docker's own words; the engine turns it into InvalidArgument (400) and the CLI prints it, so
// src/lib needs neither the engine's error classes nor HTTP.

export class ParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ParseError'
  }
}

/** Go's time.quote, as its time errors print a value: non-ASCII bytes as \xNN. */
export function goTimeQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0
    if (c >= 0x80 || c < 0x20) {
      for (const b of Buffer.from(ch, 'utf8')) out += '\\x' + b.toString(16).padStart(2, '0')
    } else {
      if (ch === '"' || ch === '\\') out += '\\'
      out += ch
    }
  }
  return out + '"'
}
