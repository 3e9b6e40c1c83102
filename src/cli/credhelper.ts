// Runs a docker-credential-* helper program (credentials.ts), apart so that reading config.json
// does not load node:child_process.
import { spawn } from 'node:child_process'
import { CredentialsError } from './credentials.ts'

/** Runs `prog action` with `input` on stdin; its stdout, or its error in docker's words. */
export function runHelper(
  prog: string,
  action: string,
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(prog, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    p.stdout.on('data', (c: Buffer) => out.push(c))
    p.stderr.on('data', (c: Buffer) => out.push(c))
    p.on('error', (err) => {
      reject(
        new CredentialsError(
          (err as { code?: string }).code === 'ENOENT'
            ? `exec: "${prog}": executable file not found in $PATH`
            : err.message,
        ),
      )
    })
    p.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8').trim()
      if (code === 0) resolve(text)
      else reject(new CredentialsError(text || `${prog} ${action} exited with ${code}`))
    })
    p.stdin.on('error', () => undefined)
    p.stdin.end(input)
  })
}
