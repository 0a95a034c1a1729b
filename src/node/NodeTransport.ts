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
import * as Transport from "../server/Transport.js"

type Resume = (effect: Effect.Effect<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout>) => void

/**
 * A transport over a connected socket, and `detach`, which hands the socket over for a TLS
 * upgrade (false when unread input was waiting: it is dropped).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDetachable = (
  socket: Net.Socket,
  options: { readonly secure?: boolean } = {}
): { readonly transport: Transport.Transport; readonly detach: () => boolean } => {
  let ended = false
  // the raw cause: a TransportError (with its stack) is made only if a read is there to get it;
  // clients that reset after QUIT would otherwise cost one per connection
  let failure: Error | undefined
  let waiter: Resume | undefined
  const wake = (effect: Effect.Effect<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout>) => {
    const resume = waiter
    waiter = undefined
    resume?.(effect)
  }
  // Flowing mode with pause/resume: a chunk goes straight to a waiting read; one that comes
  // while the session is busy is queued and the socket paused, which is the backpressure
  // (cheaper than the 'readable' + read() protocol, which copies and re-emits per call).
  const queue: Array<Buffer> = []
  const onData = (chunk: Buffer) => {
    if (waiter !== undefined) return wake(Effect.succeed(chunk))
    queue.push(chunk)
    socket.pause()
  }
  const onEnd = () => {
    ended = true
    wake(Effect.succeed(undefined))
  }
  // Node's inactivity timer (reset by every read and write, without a new timer per read):
  // it only matters while the session waits for the client
  let timeoutMs = 0
  const onTimeout = () => {
    if (waiter !== undefined) wake(Effect.fail(new Transport.ReadTimeout()))
  }
  // a socket error with no listener would crash the process
  const onError = (cause: Error) => {
    failure = cause
    if (waiter !== undefined) wake(Effect.fail(new Transport.TransportError({ cause })))
  }
  socket.on("data", onData)
  socket.on("end", onEnd)
  socket.on("close", onEnd)
  socket.on("timeout", onTimeout)
  socket.on("error", onError)

  const read = (idleTimeout: Duration.Duration) =>
    Effect.async<Uint8Array | undefined, Transport.TransportError | Transport.ReadTimeout>((resume) => {
      const queued = queue.shift()
      if (queued !== undefined) return resume(Effect.succeed(queued))
      if (failure !== undefined) return resume(Effect.fail(new Transport.TransportError({ cause: failure })))
      if (ended || socket.destroyed) return resume(Effect.succeed(undefined))
      const ms = Duration.toMillis(idleTimeout)
      if (ms !== timeoutMs) {
        timeoutMs = ms
        socket.setTimeout(Number.isFinite(ms) ? ms : 0)
      }
      waiter = resume
      if (socket.isPaused()) socket.resume()
      return Effect.sync(() => {
        waiter = undefined
      })
    })

  // Writes are not awaited one by one (that cost an async round trip per reply); the socket's
  // buffer is bounded instead: past its high-water mark the next write waits for 'drain'.
  // A failed write surfaces as a socket error, which fails the next read.
  const write = (data: string | Uint8Array) =>
    Effect.suspend(() => {
      if (socket.destroyed || !socket.writable) {
        return Effect.fail(new Transport.TransportError({ cause: new Error("socket closed") }))
      }
      if (socket.write(data)) return Effect.void
      return Effect.async<void, Transport.TransportError>((resume) => {
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
  const close = Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.void)
    }
    const timer = setTimeout(done, 2000)
    socket.once("close", done)
    socket.end()
    socket.off("data", onData)
    socket.resume()
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

  // hands the socket over to TLS (STARTTLS): our listeners go, the socket stays open. Bytes
  // already read and not yet consumed came before the handshake: they are refused, never
  // carried over (the STARTTLS injection of CVE-2011-0411).
  const detach = (): boolean => {
    socket.off("data", onData)
    socket.off("end", onEnd)
    socket.off("close", onEnd)
    socket.off("timeout", onTimeout)
    socket.off("error", onError)
    socket.setTimeout(0)
    const clean = queue.length === 0
    queue.length = 0
    return clean
  }

  const transport: Transport.Transport = {
    read,
    write,
    close,
    remote: { address: socket.remoteAddress ?? "unknown", port: socket.remotePort ?? 0 },
    local: { address: socket.localAddress ?? "unknown", port: socket.localPort ?? 0 },
    secure: options.secure ?? false
  }
  return { transport, detach }
}

/**
 * A transport over a connected socket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (socket: Net.Socket, options: { readonly secure?: boolean } = {}): Transport.Transport =>
  makeDetachable(socket, options).transport
