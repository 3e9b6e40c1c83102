// docker's PromptForConfirmation: "<message> [y/N] ", one line from stdin, yes only for y/Y.
export async function confirm(
  message: string,
  to: NodeJS.WritableStream = process.stdout,
): Promise<boolean> {
  to.write(`${message} [y/N] `)
  const line = await readLine()
  const a = line.trim().toLowerCase()
  return a === 'y' || a === 'yes'
}

function readLine(): Promise<string> {
  return new Promise((resolve) => {
    let buf = ''
    const stdin = process.stdin
    const done = () => {
      stdin.off('data', onData)
      stdin.off('end', done)
      stdin.pause()
      resolve(buf.split('\n')[0])
    }
    const onData = (c: Buffer) => {
      buf += c.toString('utf8')
      if (buf.includes('\n')) done()
    }
    stdin.on('data', onData)
    stdin.once('end', done)
  })
}
