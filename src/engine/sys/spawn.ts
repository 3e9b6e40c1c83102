// Short-lived helper processes (runc's verbs) through glibc's posix_spawn, whose child shares
// the parent's memory until it execs (CLONE_VM|CLONE_VFORK). Node's spawn forks: copying the page
// tables of a daemon of 100+ MiB, then copy-on-write faults in the daemon, cost ~20 ms and ~4 ms
// of CPU per process on a busy 2-core machine, against ~6 ms and ~1 ms here. The child is
// reaped here (libuv waits only for the processes it made), once its output has ended.
import koffi from 'koffi'
import { Socket } from 'node:net'

const libc = koffi.load('libc.so.6')

// posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336 and sigset_t 128 on x86-64
// and arm64 glibc; the buffers are larger to be safe.
const FILE_ACTIONS_SIZE = 256
const ATTR_SIZE = 512
const SIGSET_SIZE = 128

const c = {
  posixSpawn: libc.func(
    'int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)',
  ),
  actionsInit: libc.func('int posix_spawn_file_actions_init(void *actions)'),
  actionsDestroy: libc.func('int posix_spawn_file_actions_destroy(void *actions)'),
  addDup2: libc.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)'),
  addOpen: libc.func(
    'int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, uint32_t mode)',
  ),
  attrInit: libc.func('int posix_spawnattr_init(void *attr)'),
  attrDestroy: libc.func('int posix_spawnattr_destroy(void *attr)'),
  attrSetFlags: libc.func('int posix_spawnattr_setflags(void *attr, short flags)'),
  attrSetSigDefault: libc.func('int posix_spawnattr_setsigdefault(void *attr, const void *set)'),
  attrSetSigMask: libc.func('int posix_spawnattr_setsigmask(void *attr, const void *set)'),
  sigfillset: libc.func('int sigfillset(void *set)'),
  sigemptyset: libc.func('int sigemptyset(void *set)'),
  pipe2: libc.func('int pipe2(_Out_ int *fds, int flags)'),
  close: libc.func('int close(int fd)'),
  waitpid: libc.func('int waitpid(int pid, _Out_ int *status, int options)'),
  strerror: libc.func('const char *strerror(int errnum)'),
}

const O_CLOEXEC = 0o2000000
const O_RDONLY = 0
const POSIX_SPAWN_SETSIGDEF = 0x04
const POSIX_SPAWN_SETSIGMASK = 0x08
const WNOHANG = 1
const EINTR = 4

/** A finished process: its exit code, or the signal that ended it, and what it wrote. */
export interface SpawnResult {
  code: number | null
  signal: number | null
  stdout: string
  stderr: string
}

/** The process could not be run at all (posix_spawn's error: ENOENT, EACCES...). */
export class SpawnError extends Error {
  constructor(
    readonly path: string,
    readonly errno: number,
  ) {
    super(`spawn ${path}: ${c.strerror(errno) as string}`)
  }
}

/**
 * Runs `path` with `args` (argv[0] is `path`), stdin from /dev/null, the daemon's environment
 * and working directory, every signal at its default and none blocked (as Node's spawn leaves
 * them: the daemon ignores SIGPIPE, which a child would otherwise inherit); resolves with its
 * exit status and output once it has exited. Rejects with SpawnError when it cannot be run.
 */
export async function spawnCollect(path: string, args: readonly string[]): Promise<SpawnResult> {
  const out = [-1, -1]
  const err = [-1, -1]
  const pid = [0]
  const actions = Buffer.alloc(FILE_ACTIONS_SIZE)
  const attr = Buffer.alloc(ATTR_SIZE)
  let ret: number
  try {
    if ((c.pipe2(out, O_CLOEXEC) as number) < 0 || (c.pipe2(err, O_CLOEXEC) as number) < 0) {
      throw new SpawnError(path, koffi.errno())
    }
    c.actionsInit(actions)
    c.attrInit(attr)
    try {
      c.addOpen(actions, 0, '/dev/null', O_RDONLY, 0)
      // dup2 clears close-on-exec on the child's 1 and 2; the pipes' own ends close at exec.
      c.addDup2(actions, out[1]!, 1)
      c.addDup2(actions, err[1]!, 2)
      const all = Buffer.alloc(SIGSET_SIZE)
      const none = Buffer.alloc(SIGSET_SIZE)
      c.sigfillset(all)
      c.sigemptyset(none)
      c.attrSetSigDefault(attr, all)
      c.attrSetSigMask(attr, none)
      c.attrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
      const env = Object.entries(process.env)
        .filter((e): e is [string, string] => e[1] !== undefined)
        .map(([k, v]) => `${k}=${v}`)
      ret = c.posixSpawn(pid, path, actions, attr, [path, ...args, null], [...env, null]) as number
    } finally {
      c.actionsDestroy(actions)
      c.attrDestroy(attr)
    }
  } finally {
    // The child has its copies (or there is no child): the write ends are closed here, so the
    // read ends see EOF when it exits.
    if (out[1]! >= 0) c.close(out[1]!)
    if (err[1]! >= 0) c.close(err[1]!)
  }
  if (ret !== 0) {
    if (out[0]! >= 0) c.close(out[0]!)
    if (err[0]! >= 0) c.close(err[0]!)
    throw new SpawnError(path, ret)
  }
  const [stdout, stderr] = await Promise.all([readToEnd(out[0]!), readToEnd(err[0]!)])
  const status = await reap(pid[0]!)
  const signal = status & 0x7f
  return {
    code: signal === 0 ? (status >> 8) & 0xff : null,
    signal: signal === 0 ? null : signal,
    stdout,
    stderr,
  }
}

/** A pipe's whole content, read through the event loop; the descriptor is closed after. */
function readToEnd(fd: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = new Socket({ fd, readable: true, writable: false })
    const chunks: Buffer[] = []
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('error', (e) => {
      s.destroy()
      reject(e)
    })
    s.on('end', () => {
      s.destroy()
      resolve(Buffer.concat(chunks).toString('utf8'))
    })
  })
}

/**
 * The child's wait status. Its output has ended, so it has exited or is about to: a blocking
 * wait then lasts no time, and runs on the thread pool, not on the event loop.
 */
async function reap(pid: number): Promise<number> {
  const status = [0]
  for (;;) {
    const r = c.waitpid(pid, status, WNOHANG) as number
    if (r === pid) return status[0]!
    if (r < 0) {
      const e = koffi.errno()
      if (e !== EINTR) throw new SpawnError(`waitpid ${pid}`, e)
      continue
    }
    const waited = await new Promise<number>((resolve, reject) => {
      c.waitpid.async(pid, status, 0, (e: unknown, v: unknown) =>
        e ? reject(e as Error) : resolve(v as number),
      )
    })
    if (waited === pid) return status[0]!
    // Interrupted or failed on the pool's thread, whose errno is not readable here: the next
    // non-blocking wait says which.
  }
}
