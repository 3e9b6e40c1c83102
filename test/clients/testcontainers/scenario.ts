// What a testcontainers user writes, run by test/clients/testcontainers.test.ts in berthd's
// network namespace (where its published ports answer), with DOCKER_HOST at berthd and Ryuk
// disabled (its image is on Docker Hub). Prints one JSON line of what it saw.
import { GenericContainer, Wait } from 'testcontainers'

const context = process.argv[2]!

// A locally built image, through the library's own build call.
const image = await GenericContainer.fromDockerfile(context).build('bt-tc-web:1', {
  deleteOnExit: false,
})

// Wait for the port to listen, then read from it through the mapped port.
const web = await image
  .withExposedPorts(80)
  .withWaitStrategy(Wait.forListeningPorts())
  .withStartupTimeout(60_000)
  .start()
const url = `http://${web.getHost()}:${web.getMappedPort(80)}/`
const body = await (await fetch(url)).text()
const execd = await web.exec(['cat', '/www/index.html'])

// Wait for a log line, then read the logs.
const worker = await new GenericContainer('bt-tc-web:1')
  .withCommand(['sh', '-c', 'echo warming up; sleep 1; echo ready to serve; exec sleep 600'])
  .withWaitStrategy(Wait.forLogMessage('ready to serve'))
  .withStartupTimeout(60_000)
  .start()
const logs: string[] = []
const stream = await worker.logs()
// The library unrefs the log socket; the timer keeps this process alive meanwhile.
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no line in 30 s: ${logs.join('|')}`)), 30_000)
  stream.on('end', () => clearTimeout(timer))
  stream.on('data', (chunk: Buffer | string) => {
    logs.push(
      ...String(chunk)
        .split('\n')
        .filter((l) => l !== ''),
    )
    if (logs.includes('ready to serve')) {
      clearTimeout(timer)
      resolve()
    }
  })
  stream.on('error', reject)
  stream.on('end', () => reject(new Error(`the logs ended before the line: ${logs.join('|')}`)))
})
stream.destroy()

const names = [web.getName(), worker.getName()]
const stoppedWeb = await web.stop()
const stoppedWorker = await worker.stop()

process.stdout.write(
  JSON.stringify({
    host: web.getHost(),
    body,
    exec: { exitCode: execd.exitCode, output: execd.output },
    logs,
    names,
    stopped: [stoppedWeb.getId().length, stoppedWorker.getId().length],
  }) + '\n',
)
