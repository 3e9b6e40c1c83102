// What `berth notebook` prints and reads, without I/O: the token in Jupyter's log, the URL on
// the published port, and the ssh line that forwards it to a laptop.

/** The label that marks a container as one `berth notebook` made (how `notebook ls` finds them). */
export const NOTEBOOK_LABEL = 'org.berth.notebook'
/** The port the notebook image's server listens on (examples/jupyter's CMD). */
export const NOTEBOOK_PORT = 8889

/**
 * The token of the last URL Jupyter printed with one ("http://127.0.0.1:8889/tree?token=ab12"),
 * or undefined while it has printed none (it prints the URL once it listens).
 */
export function tokenIn(log: string): string | undefined {
  let token: string | undefined
  for (const m of log.matchAll(/https?:\/\/\S*[?&]token=([0-9A-Za-z]+)/g)) token = m[1]
  return token
}

export function notebookURL(port: string, token: string | undefined): string {
  return `http://127.0.0.1:${port}/` + (token ? `?token=${token}` : '')
}

/** The lines `berth notebook` prints once the server answers. */
export function startedLines(
  name: string,
  port: string,
  token: string | undefined,
  user: string,
  host: string,
): string {
  return (
    `Notebook ${name} is running: ${notebookURL(port, token)}\n` +
    `It listens on 127.0.0.1 only. From a laptop, forward the port and open the URL there:\n` +
    `  ssh -N -L ${port}:localhost:${port} ${user}@${host}\n`
  )
}

/** The last n lines of a log, for an error about a notebook that ended before it answered. */
export function tail(log: string, n = 20): string {
  return log.trimEnd().split('\n').slice(-n).join('\n')
}
