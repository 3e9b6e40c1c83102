// berthd's Engine API server: node:http on a unix socket, a small router, and
// moby's middleware behaviour (version prefixes and checks, common headers).
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Engine } from '../engine/engine.ts'
import { InvalidArgument } from '../engine/errors.ts'
import type { Logger } from '../engine/logger.ts'
import { Router, type Ctx } from './router.ts'
import { Query } from './query.ts'
import { writeError } from './errors.ts'
import { markUpgrade } from './http.ts'
import { isHijacked } from './hijack.ts'
import { API_VERSION, BERTH_VERSION, MIN_API_VERSION, compareVersions } from './version.ts'
import { systemRoutes } from './routes/system.ts'
import { imageRoutes } from './routes/images.ts'
import { registryRoutes } from './routes/registry.ts'
import { containerRoutes } from './routes/containers.ts'
import { lifecycleRoutes } from './routes/lifecycle.ts'
import { execRoutes } from './routes/exec.ts'
import { fileRoutes } from './routes/files.ts'
import { volumeRoutes } from './routes/volumes.ts'
import { guardRoutes } from './routes/guard.ts'
import { buildRoutes } from './routes/build.ts'
import { diskUsageRoutes } from './routes/df.ts'
import { networkRoutes } from './routes/networks.ts'

/** A set of routes: a function that adds them to the router. */
export type RouteSet = (r: Router) => void

/** The routes berthd serves; each module's set is added in this order. */
export const defaultRouteSets: RouteSet[] = [
  systemRoutes,
  imageRoutes,
  registryRoutes,
  containerRoutes,
  lifecycleRoutes,
  execRoutes,
  fileRoutes,
  volumeRoutes,
  buildRoutes,
  diskUsageRoutes,
  guardRoutes,
  networkRoutes,
]

export interface ApiServerDeps {
  logger: Logger
  /** Route sets in place of the defaults (tests, or the integrator adding more). */
  routes?: RouteSet[]
}

const VERSION_PREFIX = /^\/v([0-9.]+)(\/.*)$/

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify({ message: 'page not found' }) + '\n')
}

export function createApiServer(engine: Engine, deps: ApiServerDeps): http.Server {
  const router = new Router()
  for (const add of deps.routes ?? defaultRouteSets) add(router)
  const { logger } = deps

  const dispatch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rawUrl = req.url ?? '/'
    const qIdx = rawUrl.indexOf('?')
    let path = qIdx < 0 ? rawUrl : rawUrl.slice(0, qIdx)
    const search = qIdx < 0 ? '' : rawUrl.slice(qIdx + 1)
    try {
      // gorilla/mux matches the decoded path.
      path = decodeURIComponent(path)
    } catch {
      notFound(res)
      return
    }
    logger.debug(`Calling ${req.method} ${path}`)

    let pathVersion: string | undefined
    const vm = VERSION_PREFIX.exec(path)
    if (vm) {
      pathVersion = vm[1]!
      path = vm[2]!
    }
    const method = req.method ?? 'GET'
    const m = router.match(method, path)
    if (m.kind !== 'found') {
      // moby answers a known path with the wrong method as it does an unknown path.
      notFound(res)
      return
    }

    res.setHeader('Server', `Docker/${BERTH_VERSION} (linux)`)
    res.setHeader('Api-Version', API_VERSION)
    res.setHeader('Docker-Experimental', 'false')
    res.setHeader('Ostype', 'linux')

    const ac = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished && !isHijacked(req)) ac.abort()
    })
    const target = { req, res, logger, pathVersion, route: m.pattern }
    try {
      const apiVersion = pathVersion ?? API_VERSION
      if (compareVersions(apiVersion, MIN_API_VERSION) < 0) {
        throw new InvalidArgument(
          `client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
        )
      }
      if (compareVersions(apiVersion, API_VERSION) > 0) {
        throw new InvalidArgument(
          `client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`,
        )
      }
      const ctx: Ctx = {
        req,
        res,
        engine,
        logger,
        operation: m.operation,
        params: m.params,
        query: new Query(new URLSearchParams(search)),
        apiVersion,
        signal: ac.signal,
        upgrade: req.headers.upgrade !== undefined,
      }
      await m.handler(ctx)
      if (isHijacked(req)) return
      // A handler that wrote nothing answers 200 with no body, as a Go handler would.
      if (!res.headersSent) res.writeHead(200)
      if (!res.writableEnded) res.end()
    } catch (err) {
      if (isHijacked(req)) {
        logger.error(`Handler for ${method} ${m.pattern} failed after hijack: ${String(err)}`)
        return
      }
      if (ac.signal.aborted) {
        logger.info('request cancelled by client', { method, 'request-url': rawUrl })
        return
      }
      writeError(target, err)
    }
  }

  const server = http.createServer(
    {
      // Pulls, loads, logs -f and attach run as long as they need to.
      requestTimeout: 0,
      keepAliveTimeout: 60_000,
    },
    (req, res) => void dispatch(req, res),
  )

  // Node hands requests carrying `Connection: Upgrade` (attach, exec start) to
  // this event with the bare socket; give them a response object on that socket
  // so every route works the same way, and let hijack() take the socket.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => {})
    const res = new http.ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket)
    res.on('finish', () => {
      if (!isHijacked(req)) socket.end()
    })
    markUpgrade(req, socket, head)
    void dispatch(req, res)
  })

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
  })

  return server
}

export { Router }
export type { Ctx }
