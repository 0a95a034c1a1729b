/**
 * A Node server bound to an address for as long as a scope is open: what the SMTP listeners
 * and the metrics endpoint share. TCP (`host`:`port`) or a Unix socket (`unix:/path`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Cluster from "node:cluster"
import * as Fs from "node:fs"
import * as Net from "node:net"
import type { Endpoint } from "../handler/SessionInfo.js"
import { ListenError } from "../server/SmtpServer.js"

/**
 * Binds `server` to `host`:`port` (an IPv6 address only to IPv6) and gives the address it got.
 * Closing the scope stops it accepting; connections already open go on.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (
  server: Net.Server,
  host: string,
  port: number
): Effect.Effect<Endpoint, ListenError, Scope.Scope> =>
  bind(server, host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`, {
    host,
    port,
    ipv6Only: host.includes(":")
  }).pipe(
    Effect.map((server) => {
      const address = server.address() as Net.AddressInfo
      return { address: address.address, port: address.port }
    })
  )

const bind = (server: Net.Server, label: string, options: Net.ListenOptions) =>
  Effect.acquireRelease(
    Effect.callback<Net.Server, ListenError>((resume) => {
      server.once("error", (cause) => resume(Effect.fail(new ListenError({ address: label, message: cause.message }))))
      server.listen(options, () => {
        server.removeAllListeners("error")
        server.on("error", () => {})
        resume(Effect.succeed(server))
      })
    }),
    (server) => Effect.sync(() => server.close())
  )

/**
 * A Unix socket address: `unix:/path/to/sock`, optionally `?mode=0600` (octal; default 0660:
 * its owner and group may connect, as Postfix's and Dovecot's LMTP sockets are set up).
 *
 * @since 0.1.0
 * @category models
 */
export interface UnixAddress {
  readonly path: string
  readonly mode: number
}

/**
 * The socket file's mode when the address gives none: owner and group.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultUnixMode = 0o660

/**
 * Parses `unix:/path[?mode=NNNN]`; undefined for anything else (a `host:port` included).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseUnix = (text: string): UnixAddress | undefined => {
  const match = /^unix:([^?]+)(?:\?mode=(0?[0-7]{3}))?$/.exec(text.trim())
  if (match === null) return undefined
  return { path: match[1]!, mode: match[2] === undefined ? defaultUnixMode : parseInt(match[2], 8) }
}

/**
 * The endpoint a Unix socket's connections report, as peer and as local end: `unix:/path`,
 * port 0 (a Unix socket's client has no address of its own).
 *
 * @since 0.1.0
 * @category constructors
 */
export const unixEndpoint = (path: string): Endpoint => ({ address: `unix:${path}`, port: 0 })

/**
 * Binds `server` to a Unix socket at `address.path`, set to `address.mode`. A socket file left
 * by a dead process is removed first; one that a live process answers on is not taken over
 * ("address in use"), and a file that is not a socket is never removed. The socket file goes
 * when the scope closes. Refused in a cluster worker: workers would each find the others'
 * socket live.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listenUnix = (
  server: Net.Server,
  address: UnixAddress
): Effect.Effect<Endpoint, ListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const label = `unix:${address.path}`
    const fail = (message: string) => Effect.fail(new ListenError({ address: label, message }))
    if (Cluster.default.isWorker) return yield* fail("a Unix socket cannot be shared by cluster workers")
    const stale = yield* staleSocket(address.path, fail)
    if (stale) yield* Effect.try({ try: () => Fs.unlinkSync(address.path), catch: (e) => listenError(label, e) })
    yield* bind(server, label, { path: address.path })
    // the socket is created with the umask's mode: set the one asked for before anyone is served
    yield* Effect.try({ try: () => Fs.chmodSync(address.path, address.mode), catch: (e) => listenError(label, e) })
    yield* removeOnClose(address.path)
    return unixEndpoint(address.path)
  })

const listenError = (address: string, cause: unknown) =>
  new ListenError({ address, message: cause instanceof Error ? cause.message : String(cause) })

// is there a socket file at `path` that nobody listens on? (false when there is no file)
const staleSocket = (path: string, fail: (message: string) => Effect.Effect<never, ListenError>) =>
  Effect.gen(function* () {
    const stat = yield* Effect.try({
      try: () => Fs.lstatSync(path, { throwIfNoEntry: false }),
      catch: (e) => listenError(`unix:${path}`, e)
    })
    if (stat === undefined) return false
    if (!stat.isSocket()) return yield* fail("a file that is not a socket is in the way (not removed)")
    const answer = yield* probe(path)
    if (answer === "live") return yield* fail("address in use: a process is listening on this socket")
    if (answer === "stale") return true
    return yield* fail(`cannot check the socket already there: ${answer}`)
  })

// connects to the socket: refused means nobody listens (a dead process's file); a socket that
// neither answers nor refuses within a second (a full backlog) is taken as live, never stolen
const probe = (path: string) =>
  Effect.callback<"live" | "stale" | string>((resume) => {
    const socket = Net.connect({ path })
    const done = (answer: string) => {
      socket.destroy()
      resume(Effect.succeed(answer))
    }
    socket.setTimeout(1000, () => done("live"))
    socket.once("connect", () => done("live"))
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done(error.code === "ECONNREFUSED" || error.code === "ENOENT" ? "stale" : error.message)
    )
  })

// the socket file goes as the listener stops, if it is still the one we made and not one another
// process has put there since (Node's own removal when the server closes does not look)
const removeOnClose = (path: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.statSync(path).ino),
    (ino) =>
      Effect.sync(() => {
        const stat = Fs.lstatSync(path, { throwIfNoEntry: false })
        if (stat?.isSocket() === true && stat.ino === ino) Fs.rmSync(path, { force: true })
      })
  )
