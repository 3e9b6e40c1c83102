// Throughput client for bench's net-tput rows: connects to HOST PORT, sends MIB MiB of zeros,
// half-closes, and waits for the server's report (busybox `dd bs=1M iflag=fullblock` behind
// `nc -ll -e`: "N+0 records in") and the close. Prints the milliseconds from the connect to
// the close; exits 1 when the server did not get exactly what was sent.
import { Buffer } from 'node:buffer'
import net from 'node:net'

const [host, port, mib] = process.argv.slice(2)
const chunk = Buffer.alloc(1 << 20)
const t0 = process.hrtime.bigint()
let reply = ''
const s = net.connect(Number(port), host)
s.setEncoding('utf8')
s.on('data', (d) => (reply += d))
s.on('error', (e) => {
  process.stderr.write(`${e.message}\n`)
  process.exit(1)
})
s.on('connect', () => {
  let left = Number(mib) * chunk.length
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length)
      left -= n
      if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return s.once('drain', pump)
    }
    s.end()
  }
  pump()
})
s.on('close', () => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (!reply.startsWith(`${mib}+0 records in\n`)) {
    process.stderr.write(`the server got ${JSON.stringify(reply)} of ${mib} MiB\n`)
    process.exit(1)
  }
  process.stdout.write(`${ms}\n`)
})
