/**
 * `Transport` over a `net.Socket`: reads paced by the session (the socket is paused while the
 * session is busy, which gives TCP backpressure), writes bounded by the socket's buffer, the
 * idle timeout as the socket's inactivity timer, and a lingering close.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Net from "node:net"
import type * as SessionInfo from "../handler/SessionInfo.js"
import { ParkedSession } from "../internal/ParkedSession.js"
import * as Transport from "../internal/Transport.js"
import * as NodeTls from "./NodeTls.js"
import * as ReadBuffers from "./ReadBuffers.js"

type Resume = (effect: Effect.Effect<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout>) => void

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Is the socket already encrypted (a `TLSSocket`)? */
  readonly secure?: boolean | undefined
  /** The TLS session of an encrypted socket, for the session's handlers. */
  readonly tls?: Transport.TlsInfo | undefined
  /** Offer the server's side of STARTTLS with these certificates (`acceptTls`). */
  readonly startTls?: NodeTls.Contexts | undefined
  /** The connection's endpoints, when not the socket's own (a PROXY header read before TLS). */
  readonly endpoints?: { readonly remote: SessionInfo.Endpoint; readonly local: SessionInfo.Endpoint } | undefined
}

/**
 * A transport over a connected socket, and `detach`, which hands the socket over for a TLS
 * upgrade (false when unread input was waiting: it is dropped).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDetachable = (
  socket: Net.Socket,
  options: Options = {}
): { readonly transport: Transport.Transport; readonly detach: () => boolean } => {
  let ended = false
  // handed over to TLS: this transport no longer reads or writes the socket (its close closes the TLS one)
  let detached = false
  // the raw cause: a TransportError (with its stack) is made only if a read is there to get it;
  // clients that reset after QUIT would otherwise cost one per connection
  let failure: Error | undefined
  let waiter: Resume | undefined
  // a session that acts on chunks in this callback: parked with no fiber, or one whose fiber's
  // read waits (`read(idle, inline)`); either way chunks go to it without waking a fiber
  const parked = new ParkedSession()
  const wake = (effect: Effect.Effect<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout>) => {
    const resume = waiter
    if (resume === undefined) return
    waiter = undefined
    parked.stop()
    resume(effect)
  }
  // the waiting read's inline handling took the chunk and needs the fiber (or threw)
  const wakeReader = () => wake(parked.firstRead() ?? Effect.succeed(Transport.takenInline))
  // Flowing mode with pause/resume: a chunk goes straight to a waiting read; one that comes
  // while the session is busy is queued and the socket paused, which is the backpressure
  // (cheaper than the 'readable' + read() protocol, which copies and re-emits per call).
  const queue: Array<Buffer> = []
  const onData = (chunk: Buffer) => {
    ReadBuffers.read(chunk.length)
    if (parked.isParked()) {
      const next = parked.hand(chunk)
      if (next !== undefined) arm(next)
      return
    }
    if (waiter !== undefined) return wake(Effect.succeed(chunk))
    queue.push(chunk)
    socket.pause()
  }
  const onEnd = () => {
    ended = true
    wake(Effect.succeed(undefined))
    parked.wake()
  }
  // Node's inactivity timer (reset by every read and write, without a new timer per read):
  // it only matters while the session waits for the client
  let timeoutMs = 0
  const arm = (ms: number) => {
    if (ms === timeoutMs) return
    timeoutMs = ms
    socket.setTimeout(Number.isFinite(ms) ? ms : 0)
  }
  const onTimeout = () => {
    if (waiter !== undefined) return wake(Effect.fail(new Transport.ReadTimeout()))
    parked.timeout()
  }
  // a socket error with no listener would crash the process
  const onError = (cause: Error) => {
    failure = cause
    if (waiter !== undefined) wake(Effect.fail(new Transport.TransportError({ cause })))
    parked.wake()
  }
  socket.on("data", onData)
  socket.on("end", onEnd)
  socket.on("close", onEnd)
  socket.on("timeout", onTimeout)
  socket.on("error", onError)

  const read = (idleTimeout: Duration.Duration, inlineRead?: Transport.Inline) =>
    Effect.callback<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout>((resume) => {
      const queued = queue.shift()
      if (queued !== undefined) return resume(Effect.succeed(queued))
      const first = parked.firstRead()
      if (first !== undefined) return resume(first)
      if (failure !== undefined) return resume(Effect.fail(new Transport.TransportError({ cause: failure })))
      if (ended || socket.destroyed) return resume(Effect.succeed(undefined))
      arm(Duration.toMillis(idleTimeout))
      waiter = resume
      if (inlineRead !== undefined) parked.start(inlineRead, wakeReader)
      if (socket.isPaused()) socket.resume()
      // no canceler: it would hold an interruption frame for as long as the read waits (an idle
      // session's whole life). A read abandoned by an interrupted session is never resumed, and
      // its session no longer acts inline; the session's end closes the transport.
    })

  const writeNow = (data: string) => {
    if (detached || socket.destroyed || !socket.writable || socket.writableNeedDrain) return false
    socket.write(data)
    return true
  }

  // Writes are not awaited one by one (that cost an async round trip per reply); the socket's
  // buffer is bounded instead: past its high-water mark the next write waits for 'drain'.
  // A failed write surfaces as a socket error, which fails the next read.
  const write = (data: string | Uint8Array) =>
    Effect.suspend(() => {
      if (detached || socket.destroyed || !socket.writable) {
        return Effect.fail(new Transport.TransportError({ cause: new Error("socket closed") }))
      }
      if (socket.write(data)) return Effect.void
      return Effect.callback<void, Transport.TransportError>((resume) => {
        const onDrain = () => {
          socket.off("close", onClose)
          resume(Effect.void)
        }
        const onClose = () => {
          socket.off("drain", onDrain)
          resume(Effect.fail(new Transport.TransportError({ cause: new Error("socket closed") })))
        }
        socket.once("drain", onDrain)
        socket.once("close", onClose)
        return Effect.sync(() => {
          socket.off("drain", onDrain)
          socket.off("close", onClose)
        })
      })
    })

  // lingering close: FIN, then read and drop what the client still sends until it closes (at
  // most 2 s), so that an RST does not wipe our last reply from its receive buffer; then release.
  // A plain timer rather than Effect.timeout: this runs once per connection.
  const linger = (released: () => void): (() => void) => {
    parked.stop()
    if (socket.destroyed) {
      released()
      return ignore
    }
    let finished = false
    const done = () => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      socket.destroy()
      released()
    }
    const timer = setTimeout(done, 2000)
    socket.once("close", done)
    socket.end()
    socket.off("data", onData)
    socket.resume()
    return () => {
      clearTimeout(timer)
      socket.destroy()
    }
  }
  const lingering = () =>
    Effect.callback<void>((resume) => {
      const release = linger(() => resume(Effect.void))
      return Effect.sync(release)
    })
  // after STARTTLS the connection goes on in the TLS transport: closing this one closes that one
  let successor: Transport.Transport | undefined
  const close = Effect.suspend(() => (detached ? (successor?.close ?? Effect.void) : lingering()))

  // a session parks only before STARTTLS (a session that began TLS has its fiber)
  const park = new Parking(
    (take, idleMs, wakeUp) => {
      if (detached || queue.length > 0 || ended || failure !== undefined || socket.destroyed) return false
      parked.start(take, wakeUp)
      arm(idleMs)
      if (socket.isPaused()) socket.resume()
      return true
    },
    () => parked.stop(),
    (done) => void linger(done)
  )

  // hands the socket over to TLS (STARTTLS): our listeners go, the socket stays open. Bytes
  // already read and not yet consumed came before the handshake: they are refused, never
  // carried over (the STARTTLS injection of CVE-2011-0411).
  const detach = (): boolean => {
    detached = true
    ended = true
    socket.off("data", onData)
    socket.off("end", onEnd)
    socket.off("close", onEnd)
    socket.off("timeout", onTimeout)
    socket.off("error", onError)
    socket.setTimeout(0)
    const clean = queue.length === 0
    queue.length = 0
    wake(Effect.succeed(undefined))
    // Node hands the socket's own error events to the TLSSocket, but between here and then a
    // socket error with no listener would crash the process
    socket.on("error", ignore)
    return clean
  }

  // STARTTLS, the server's side (RFC 3207 §4), called once the 220 went out. What the client
  // sent after STARTTLS and before its handshake is dropped with the queue (and by the session's
  // framer): it must never be read as a command of the encrypted session (the STARTTLS
  // injection of CVE-2011-0411). The new transport offers no second STARTTLS.
  const acceptTls = (contexts: NodeTls.Contexts) => (): Effect.Effect<Transport.Transport, Transport.TransportError> =>
    Effect.suspend(() => {
      if (detached) return Effect.fail(new Transport.TransportError({ cause: new Error("TLS was already started") }))
      const clean = detach()
      const secured = Effect.map(NodeTls.handshake(contexts, socket), (tls) => {
        successor = make(tls, { secure: true, tls: NodeTls.tlsInfo(tls), endpoints: options.endpoints })
        return successor
      })
      return clean ? secured : Effect.andThen(Effect.logDebug("plaintext sent after STARTTLS was discarded"), secured)
    })

  const transport = new SocketTransport(
    read,
    write,
    writeNow,
    close,
    park,
    endpoint(options.endpoints?.remote, socket.remoteAddress, socket.remotePort),
    endpoint(options.endpoints?.local, socket.localAddress, socket.localPort),
    options.secure ?? false,
    () => queue.length > 0,
    options.tls,
    options.startTls === undefined ? undefined : acceptTls(options.startTls)
  )
  return new Detachable(transport, detach)
}

// A connection's objects are class instances, not object literals. V8 may decide to allocate a
// literal's objects in the old generation once most of them outlive a scavenge (allocation-site
// pretenuring: it happens when many long sessions open at once), and such an object made for a
// short connection then keeps the young objects it points to (our closures, and all they hold)
// through every scavenge until the next full GC. Instances made with `new` are never allocated
// old that way. Measured under connection churn after 128 long sessions: 2.2 MB promoted per
// scavenge with literals here, in Reader and in Sessions, 1.4 MB without; the rest comes from
// sites elsewhere (Node's own socket code among them), which the command avoids by turning the
// pretenuring off (0.4 MB, see cli/main.ts).
class SocketTransport implements Transport.Transport {
  constructor(
    readonly read: Transport.Transport["read"],
    readonly write: Transport.Transport["write"],
    readonly writeNow: (data: string) => boolean,
    readonly close: Effect.Effect<void>,
    readonly park: Transport.Parking,
    readonly remote: Endpoint,
    readonly local: Endpoint,
    readonly secure: boolean,
    readonly hasInput: () => boolean,
    // always present, if undefined: every transport has the same shape (the session's code
    // that reads them stays monomorphic)
    readonly tls: Transport.TlsInfo | undefined,
    readonly acceptTls: Transport.Transport["acceptTls"]
  ) {}
}

class Parking implements Transport.Parking {
  constructor(
    readonly start: Transport.Parking["start"],
    readonly stop: () => void,
    readonly end: (done: () => void) => void
  ) {}
}

class Endpoint {
  constructor(
    readonly address: string,
    readonly port: number
  ) {}
}

// the one given (by a PROXY header), or the socket's own; either way an Endpoint, one shape
const endpoint = (given: SessionInfo.Endpoint | undefined, address: string | undefined, port: number | undefined) =>
  given === undefined ? new Endpoint(address ?? "unknown", port ?? 0) : new Endpoint(given.address, given.port)

class Detachable {
  constructor(
    readonly transport: Transport.Transport,
    readonly detach: () => boolean
  ) {}
}

const ignore = () => {}

/**
 * A transport over a connected socket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (socket: Net.Socket, options: Options = {}): Transport.Transport =>
  makeDetachable(socket, options).transport
