// The build benchmarks' Dockerfile and context (bench/build.ts, bench/build-cpu.ts): the
// tutorial's shape of Dockerfile (two stages, FROM, WORKDIR, COPY, RUN, ENV, CMD) and a source
// tree of 2000 files, as a real project's.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

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

/** Writes the context's files (not its Dockerfile) under `ctx`. */
export async function writeBenchContext(ctx: string): Promise<void> {
  await mkdir(join(ctx, 'src'), { recursive: true })
  await writeFile(join(ctx, 'package.json'), '{"name":"app"}')
  await writeFile(join(ctx, 'src/index.js'), 'start\n')
  for (let d = 0; d < 40; d++) {
    await mkdir(join(ctx, 'src', `m${d}`))
    for (let f = 0; f < 50; f++)
      await writeFile(join(ctx, 'src', `m${d}`, `f${f}.js`), `export const v = ${d * 50 + f}\n`)
  }
}
