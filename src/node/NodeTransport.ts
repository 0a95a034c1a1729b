/**
 * `Transport` over a `net.Socket`: reads paced by the session (the socket is paused while the
 * session is busy, which gives TCP backpressure), writes bounded by the socket's buffer, the
 * idle timeout as the socket's inactivity timer, and a lingering close. It takes part in the
 * session's inline handling and parking (`Transport.Inline`, `Transport.Parking`): the states
 * and who holds what are in docs/sessions.md.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Net from "node:net"
import type * as SessionInfo from "../handler/SessionInfo.js"
import { ParkedSession, type Waker } from "../internal/ParkedSession.js"
import * as Transport from "../internal/Transport.js"
import * as NodeTls from "./NodeTls.js"
import * as ReadBuffers from "./ReadBuffers.js"

type Read = Effect.Effect<
  Uint8Array | Transport.TakenInline | undefined,
  Transport.TransportError | Transport.ReadTimeout
>
type Resume = (effect: Read) => void

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
  const transport = new SocketTransport(socket, options)
  return new Detachable(transport, transport.detach)
}

// A connection's objects are class instances, never object literals, and no literal has a
// getter (V8's allocation-site pretenuring and hidden classes: docs/performance/gc.md). The
// members of `Transport` are bound functions, as callers may take them off the object.
class SocketTransport implements Transport.Transport {
  readonly remote: Endpoint
  readonly local: Endpoint
  readonly secure: boolean
  // always present, if undefined: every transport has the same shape (the session's code
  // that reads them stays monomorphic)
  readonly tls: Transport.TlsInfo | undefined
  readonly acceptTls: Transport.Transport["acceptTls"]
  // a session parks only before STARTTLS (a session that began TLS has its fiber)
  readonly park: Transport.Parking = new SocketParking(this)
  /** The socket has ended (or was handed over to TLS). */
  private ended = false
  /** Handed over to TLS: this transport no longer reads or writes the socket (its close closes the TLS one). */
  private detached = false
  /** After STARTTLS the connection goes on in the TLS transport: closing this one closes that one. */
  private successor: Transport.Transport | undefined = undefined
  // the raw cause: a TransportError (with its stack) is made only if a read is there to get it;
  // clients that reset after QUIT would otherwise cost one per connection
  private failure: Error | undefined = undefined
  /** The read waiting for a chunk. */
  private waiter: Resume | undefined = undefined
  // a session that acts on chunks in this callback: parked with no fiber, or one whose fiber's
  // read waits (`readInline`); either way chunks go to it without waking a fiber
  private readonly parked = new ParkedSession()
  private readonly readWaker = new ReadWaker(this)
  // Flowing mode with pause/resume: a chunk goes straight to a waiting read; one that comes
  // while the session is busy is queued and the socket paused, which is the backpressure
  // (cheaper than the 'readable' + read() protocol, which copies and re-emits per call).
  private readonly queue: Array<Buffer> = []
  /** The socket's inactivity timer, as last set. */
  private timeoutMs = 0

  constructor(
    private readonly socket: Net.Socket,
    private readonly options: Options
  ) {
    this.remote = endpoint(options.endpoints?.remote, socket.remoteAddress, socket.remotePort)
    this.local = endpoint(options.endpoints?.local, socket.localAddress, socket.localPort)
    this.secure = options.secure ?? false
    this.tls = options.tls
    const contexts = options.startTls
    this.acceptTls = contexts === undefined ? undefined : () => this.startTls(contexts)
    socket.on("data", this.onData)
    socket.on("end", this.onEnd)
    socket.on("close", this.onEnd)
    socket.on("timeout", this.onTimeout)
    socket.on("error", this.onError)
  }

  readonly read = (idleTimeout: Duration.Duration) =>
    Effect.callback<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout>((resume) => {
      this.wait(resume as Resume, idleTimeout, undefined)
    })

  readonly readInline = (idleTimeout: Duration.Duration, inline: Transport.Inline): Read =>
    Effect.callback((resume) => {
      this.wait(resume, idleTimeout, inline)
    })

  readonly writeNow = (data: string): boolean => {
    const socket = this.socket
    if (this.detached || socket.destroyed || !socket.writable || socket.writableNeedDrain) return false
    socket.write(data)
    return true
  }

  // Writes are not awaited one by one (that cost an async round trip per reply); the socket's
  // buffer is bounded instead: past its high-water mark the next write waits for 'drain'.
  // A failed write surfaces as a socket error, which fails the next read.
  readonly write = (data: string | Uint8Array): Effect.Effect<void, Transport.TransportError> =>
    Effect.suspend(() => {
      const socket = this.socket
      if (this.detached || socket.destroyed || !socket.writable) {
        return Effect.fail(new Transport.TransportError({ cause: new Error("socket closed") }))
      }
      return socket.write(data) ? Effect.void : this.drained()
    })

  readonly close: Effect.Effect<void> = Effect.suspend(() =>
    this.detached ? (this.successor?.close ?? Effect.void) : this.lingering()
  )

  readonly hasInput = (): boolean => this.queue.length > 0

  // hands the socket over to TLS (STARTTLS): our listeners go, the socket stays open. Bytes
  // already read and not yet consumed came before the handshake: they are refused, never
  // carried over (the STARTTLS injection of CVE-2011-0411).
  readonly detach = (): boolean => {
    const socket = this.socket
    this.detached = true
    this.ended = true
    socket.off("data", this.onData)
    socket.off("end", this.onEnd)
    socket.off("close", this.onEnd)
    socket.off("timeout", this.onTimeout)
    socket.off("error", this.onError)
    socket.setTimeout(0)
    const clean = this.queue.length === 0
    this.queue.length = 0
    this.resumeRead(Effect.succeed(undefined))
    // Node hands the socket's own error events to the TLSSocket, but between here and then a
    // socket error with no listener would crash the process
    socket.on("error", ignore)
    return clean
  }

  private readonly onData = (chunk: Buffer): void => {
    ReadBuffers.read(chunk.length)
    if (this.parked.isParked()) {
      if (this.parked.hand(chunk)) this.arm(this.parked.waitMs())
      return
    }
    if (this.waiter !== undefined) return this.resumeRead(Effect.succeed(chunk))
    this.queue.push(chunk)
    this.socket.pause()
  }

  private readonly onEnd = (): void => {
    this.ended = true
    this.resumeRead(Effect.succeed(undefined))
    this.parked.wake()
  }

  private readonly onTimeout = (): void => {
    if (this.waiter !== undefined) return this.resumeRead(Effect.fail(new Transport.ReadTimeout()))
    this.parked.timeout()
  }

  // a socket error with no listener would crash the process
  private readonly onError = (cause: Error): void => {
    this.failure = cause
    if (this.waiter !== undefined) this.resumeRead(Effect.fail(new Transport.TransportError({ cause })))
    this.parked.wake()
  }

  private wait(resume: Resume, idleTimeout: Duration.Duration, inline: Transport.Inline | undefined): void {
    const queued = this.queue.shift()
    if (queued !== undefined) return resume(Effect.succeed(queued))
    const first = this.parked.firstRead()
    if (first !== undefined) return resume(first)
    if (this.failure !== undefined) return resume(Effect.fail(new Transport.TransportError({ cause: this.failure })))
    if (this.ended || this.socket.destroyed) return resume(Effect.succeed(undefined))
    this.arm(Duration.toMillis(idleTimeout))
    this.waiter = resume
    if (inline !== undefined) this.parked.start(inline, this.readWaker)
    if (this.socket.isPaused()) this.socket.resume()
    // no canceler: it would hold an interruption frame for as long as the read waits (an idle
    // session's whole life). A read abandoned by an interrupted session is never resumed, and
    // its session no longer acts inline; the session's end closes the transport.
  }

  private resumeRead(effect: Read): void {
    const resume = this.waiter
    if (resume === undefined) return
    this.waiter = undefined
    this.parked.stop()
    resume(effect)
  }

  /** The waiting read's inline handling took the chunk and needs the fiber (or threw). */
  inlineReadDone(): void {
    this.resumeRead(this.parked.firstRead() ?? Effect.succeed(Transport.takenInline))
  }

  // Node's inactivity timer (reset by every read and write, without a new timer per read):
  // it only matters while the session waits for the client
  private arm(ms: number): void {
    if (ms === this.timeoutMs) return
    this.timeoutMs = ms
    this.socket.setTimeout(Number.isFinite(ms) ? ms : 0)
  }

  private drained(): Effect.Effect<void, Transport.TransportError> {
    const socket = this.socket
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
  }

  /** `Transport.Parking.start`. */
  parkSession(session: Transport.Parked, idleMs: number): boolean {
    if (this.detached || this.queue.length > 0 || this.ended || this.failure !== undefined || this.socket.destroyed) {
      return false
    }
    this.parked.start(session, session)
    this.arm(idleMs)
    if (this.socket.isPaused()) this.socket.resume()
    return true
  }

  unpark(): void {
    this.parked.stop()
  }

  // lingering close: FIN, then read and drop what the client still sends until it closes (at
  // most 2 s), so that an RST does not wipe our last reply from its receive buffer; then release.
  // A plain timer rather than Effect.timeout: this runs once per connection.
  linger(released: () => void): () => void {
    const socket = this.socket
    this.parked.stop()
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
    socket.off("data", this.onData)
    socket.resume()
    return () => {
      clearTimeout(timer)
      socket.destroy()
    }
  }

  private lingering(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      const release = this.linger(() => resume(Effect.void))
      return Effect.sync(release)
    })
  }

  // STARTTLS, the server's side (RFC 3207 §4), called once the 220 went out. What the client
  // sent after STARTTLS and before its handshake is dropped with the queue (and by the session's
  // framer): it must never be read as a command of the encrypted session (the STARTTLS
  // injection of CVE-2011-0411). The new transport offers no second STARTTLS.
  private startTls(contexts: NodeTls.Contexts): Effect.Effect<Transport.Transport, Transport.TransportError> {
    return Effect.suspend(() => {
      if (this.detached)
        return Effect.fail(new Transport.TransportError({ cause: new Error("TLS was already started") }))
      const clean = this.detach()
      const secured = Effect.map(NodeTls.handshake(contexts, this.socket), (tls) => {
        const endpoints = this.options.endpoints
        this.successor = make(tls, { secure: true, tls: NodeTls.tlsInfo(tls), endpoints })
        return this.successor
      })
      return clean ? secured : Effect.andThen(Effect.logDebug("plaintext sent after STARTTLS was discarded"), secured)
    })
  }
}

// whom the park of a fiber's inline read wakes: the read itself
class ReadWaker implements Waker {
  constructor(private readonly transport: SocketTransport) {}
  wake(): void {
    this.transport.inlineReadDone()
  }
}

class SocketParking implements Transport.Parking {
  constructor(private readonly transport: SocketTransport) {}
  start(session: Transport.Parked, idleMs: number): boolean {
    return this.transport.parkSession(session, idleMs)
  }
  stop(): void {
    this.transport.unpark()
  }
  end(done: () => void): void {
    this.transport.linger(done)
  }
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
