// The build benchmarks' Dockerfile and context (bench/build.ts, bench/build-cpu.ts): the
// tutorial's shape of Dockerfile (two stages, FROM, WORKDIR, COPY, RUN, ENV, CMD) and a source
// tree of 2000 files, as a real project's; and how they measure a build's CPU time.
import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cleanEnv } from './engines.ts'

export const BENCH_DOCKERFILE = `FROM busybox AS deps
WORKDIR /app
COPY package.json .
RUN wc -c package.json > deps.txt && head -c 5000000 /dev/urandom > /app/blob
FROM busybox
ENV MODE=production
WORKDIR /app
COPY --from=deps /app/deps.txt .
COPY src/ src/
RUN cat src/index.js > bundle.js && find src -type f | wc -l > count.txt
CMD ["sh", "-c", "echo $MODE; cat deps.txt bundle.js count.txt"]
`

/**
 * The realistic one (bench/build.ts --only debian): a Debian base (debootstrap minbase, imported
 * as bench-debian:bookworm), a package from the Debian mirror with apt (reached through the
 * http_proxy build arg, bench/lib/mirror-relay.ts), a source tree of 3000 files used by both
 * stages, and a second stage that takes the first's result with COPY --from.
 */
export const DEBIAN_DOCKERFILE = `FROM bench-debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json .
COPY src/ src/
RUN find src -type f | LC_ALL=C sort | jq -R -s 'split("\\n") | map(select(length > 0))' > files.json
FROM bench-debian:bookworm
ENV MODE=production
WORKDIR /app
COPY --from=build /app/files.json .
COPY src/ src/
CMD ["sh", "-c", "echo $MODE; wc -c files.json; cat src/index.js"]
`

/** Writes the context's files (not its Dockerfile) under `ctx`: 50 × `dirs` + 1 source files. */
export async function writeBenchContext(ctx: string, dirs = 40): Promise<void> {
  await mkdir(join(ctx, 'src'), { recursive: true })
  await writeFile(join(ctx, 'package.json'), '{"name":"app"}')
  await writeFile(join(ctx, 'src/index.js'), 'start\n')
  for (let d = 0; d < dirs; d++) {
    await mkdir(join(ctx, 'src', `m${d}`))
    for (let f = 0; f < 50; f++)
      await writeFile(join(ctx, 'src', `m${d}`, `f${f}.js`), `export const v = ${d * 50 + f}\n`)
  }
}

const TICK = 100 // USER_HZ: /proc/<pid>/stat counts in 1/100 s

/** user+sys of a process and of the children it waited for, in ms. */
export async function procCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14..17 (utime, stime, cutime, cstime) are 11..14 after the state field.
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * (1000 / TICK)
}

/** The pid of the dockerd whose command line names `dir` (the harness's temp directory). */
export async function dockerdPid(dir: string): Promise<number> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')
    const args = cmd.split('\0')
    if (args[0]?.endsWith('dockerd') && args.some((a) => a.startsWith(dir))) return Number(name)
  }
  throw new Error(`no dockerd of ${dir}`)
}

/**
 * Whether the clients run with the NODE_EXTRA_CA_CERTS of this environment. It is unset unless
 * BENCH_KEEP_NODE_CA=1: a machine whose outbound proxy needs it (as these do) sets it for every
 * process, and Node 20 reads and parses that file, with its own root certificates, when it
 * starts, before any script (about 425M instructions, 60-80 ms of CPU, callgrind of `node -e 0`:
 * 533M with it, 108M without). The berth CLI never speaks TLS (its daemon is a unix socket),
 * the Go docker clients never read it, and a developer's shell does not set it; measured with it,
 * an unchanged rebuild with `berth build` is mostly this one file's parsing.
 */
export const KEEP_NODE_CA = process.env.BENCH_KEEP_NODE_CA === '1'

/** The environment a timed client runs with: see KEEP_NODE_CA. */
function clientEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out = cleanEnv(env)
  if (!KEEP_NODE_CA) delete out.NODE_EXTRA_CA_CERTS
  return out
}

/** Runs a client under /usr/bin/time (and `wrap`, e.g. strace): its wall and CPU ms. */
export function timedClient(
  bin: string,
  args: string[],
  env: Record<string, string>,
  wrap: string[] = [],
): Promise<{ wall: number; cpu: number }> {
  const started = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    execFile(
      '/usr/bin/time',
      ['-f', 'BENCHCPU %U %S', ...wrap, bin, ...args],
      { env: clientEnv(env), maxBuffer: 64 << 20, timeout: 600_000 },
      (err, _stdout, stderr) => {
        if (err) return reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${stderr}`))
        const m = /BENCHCPU ([\d.]+) ([\d.]+)/.exec(stderr)
        resolve({
          wall: Number(process.hrtime.bigint() - started) / 1e6,
          cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN,
        })
      },
    )
  })
}
