// The builder's errors. A DockerfileError is a problem with the Dockerfile itself, reported in
// BuildKit's words with the lines it was found on (the CLI shows them); the API answers 400.
import { InvalidArgument } from '../errors.ts'

export class DockerfileError extends InvalidArgument {
  /** 1-based lines of the instruction the problem is in, when known. */
  startLine?: number
  endLine?: number
}

/** A build step that ran and failed: Docker's words, the exit code, and its last output lines. */
export class StepFailed extends InvalidArgument {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly outputTail: string[],
  ) {
    super(message)
  }
}

/** Go's %q, for the strings Docker quotes in its messages. */
export function goQuote(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}
