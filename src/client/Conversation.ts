/**
 * The client's side of the wire: commands out, replies in, each within its timeout (a whole reply,
 * however slowly its bytes come: a server cannot hold us by trickling), with every
 * transport failure turned into `UpstreamUnavailable`. Command arguments never reach an error
 * or a log (AUTH carries credentials): only the verb does.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Command from "../protocol/Command.js"
import * as Reply from "../protocol/Reply.js"
import * as ReplyReader from "../protocol/ReplyReader.js"
import { UpstreamRefused, UpstreamUnavailable } from "./ClientError.js"
import type * as Dialer from "./Dialer.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Conversation {
  readonly secure: boolean
  readonly write: (data: string | Uint8Array, timeout: Duration.Duration) => Effect.Effect<void, UpstreamUnavailable>
  /** The next whole reply, within `timeout` however its bytes come. */
  readonly read: (timeout: Duration.Duration) => Effect.Effect<Reply.Reply, UpstreamUnavailable>
  /** Writes a line and reads its reply, whatever its code. */
  readonly command: (line: string, timeout: Duration.Duration) => Effect.Effect<Reply.Reply, UpstreamUnavailable>
  /** The reply if its code is expected; a 4xx/5xx is `UpstreamRefused`, anything else a protocol error. */
  readonly check: (
    what: string,
    reply: Reply.Reply,
    expected: number | ReadonlyArray<number>
  ) => Effect.Effect<Reply.Reply, UpstreamRefused | UpstreamUnavailable>
  /** The error for an unexpected reply to `what` (a verb, or a step such as "end of data"). */
  readonly refusal: (what: string, reply: Reply.Reply) => UpstreamRefused | UpstreamUnavailable
  /** `command`, then `check`. */
  readonly expect: (
    data: string | Uint8Array,
    timeout: Duration.Duration,
    expected: number | ReadonlyArray<number>,
    what?: string
  ) => Effect.Effect<Reply.Reply, UpstreamRefused | UpstreamUnavailable>
  /** Replaces the connection with its TLS upgrade (after a 220 to STARTTLS). */
  readonly startTls: (
    tls: Dialer.TlsOptions & { readonly host: string },
    timeout: Duration.Duration
  ) => Effect.Effect<void, UpstreamUnavailable>
  /** The session cannot go on (a body cut short): no QUIT, only a close. */
  readonly abandon: Effect.Effect<void>
  /** QUIT, politely and briefly, unless abandoned; the transport is closed by its owner. */
  readonly quit: (timeout: Duration.Duration) => Effect.Effect<void>
}

// "MAIL FROM:<a@b>" → "MAIL": what may be said about a command
const verbOf = (data: string | Uint8Array) =>
  typeof data === "string" ? Command.verbOf(data.trimEnd()) || "command" : "end of data"

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (initial: Dialer.ClientTransport): Conversation => {
  let transport = initial
  let usable = true
  const reader = ReplyReader.make()
  const unavailable = (reason: UpstreamUnavailable["reason"], detail: string) => {
    usable = false
    return new UpstreamUnavailable({ reason, detail })
  }

  // an operation cut short (interrupted) leaves the conversation out of step: no QUIT after it
  const abandonOnInterrupt = Effect.onInterrupt(() =>
    Effect.sync(() => {
      usable = false
    })
  )

  const write = (data: string | Uint8Array, timeout: Duration.Duration) =>
    transport.write(data).pipe(
      abandonOnInterrupt,
      Effect.mapError((error) => unavailable("closed", `write: ${String(error.cause)}`)),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(unavailable("timeout", "write timed out"))
      })
    )

  // each read of the transport waits only for what is left of the reply's time (`until`)
  const readUntil = (until: number): Effect.Effect<Reply.Reply, UpstreamUnavailable> =>
    Effect.suspend(() => {
      const next = reader.next()
      if (next instanceof Reply.Reply) return Effect.succeed(next)
      if (next !== undefined) return Effect.fail(unavailable("protocol", `malformed reply: ${next.line}`))
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        now >= until
          ? Effect.fail(unavailable("timeout", "no reply in time"))
          : transport.read(Duration.millis(until - now)).pipe(
              abandonOnInterrupt,
              Effect.catchTags({
                ReadTimeout: () => Effect.fail(unavailable("timeout", "no reply in time")),
                TransportError: (error) => Effect.fail(unavailable("closed", String(error.cause)))
              }),
              Effect.flatMap((chunk) => {
                if (chunk === undefined) return Effect.fail(unavailable("closed", "connection closed"))
                reader.push(chunk)
                return readUntil(until)
              })
            )
      )
    })

  const read = (timeout: Duration.Duration): Effect.Effect<Reply.Reply, UpstreamUnavailable> =>
    Effect.suspend(() => {
      const next = reader.next()
      if (next instanceof Reply.Reply) return Effect.succeed(next)
      if (next !== undefined) return Effect.fail(unavailable("protocol", `malformed reply: ${next.line}`))
      return Effect.flatMap(Clock.currentTimeMillis, (now) => readUntil(now + Duration.toMillis(timeout)))
    })

  const command = (line: string | Uint8Array, timeout: Duration.Duration) =>
    Effect.andThen(write(line, timeout), read(timeout))

  const check = (
    what: string,
    reply: Reply.Reply,
    expected: number | ReadonlyArray<number>
  ): Effect.Effect<Reply.Reply, UpstreamRefused | UpstreamUnavailable> => {
    if (typeof expected === "number" ? reply.code === expected : expected.includes(reply.code)) {
      return Effect.succeed(reply)
    }
    return Effect.fail(refusal(what, reply))
  }
  const refusal = (what: string, reply: Reply.Reply) =>
    reply.code >= 400
      ? new UpstreamRefused({ command: what, reply })
      : unavailable("protocol", `${what}: unexpected reply ${reply.code}`)

  // `secure` is a field kept up to date, not a getter: an object literal's getter is a closure
  // that its hidden class holds, which would give each conversation a hidden class of its own
  const conversation: { -readonly [K in keyof Conversation]: Conversation[K] } = {
    secure: initial.secure,
    write,
    read,
    command,
    check,
    refusal,
    expect: (data, timeout, expected, what) =>
      Effect.flatMap(command(data, timeout), (reply) => check(what ?? verbOf(data), reply, expected)),
    startTls: (tls, timeout) =>
      Effect.suspend(() => {
        // a reply already waiting after 220 was sent before the handshake: an injection
        if (reader.hasPending) return Effect.fail(unavailable("tls", "server sent data before TLS"))
        return transport.startTls(tls).pipe(
          Effect.mapError((error) => unavailable("tls", `handshake: ${String(error.cause)}`)),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(unavailable("timeout", "TLS handshake timed out"))
          }),
          Effect.map((secured) => {
            transport = secured
            conversation.secure = secured.secure
          })
        )
      }),
    abandon: Effect.sync(() => {
      usable = false
    }),
    quit: (timeout) =>
      Effect.suspend(() => (usable ? command("QUIT\r\n", timeout) : Effect.void)).pipe(
        Effect.timeout(timeout),
        Effect.ignore,
        Effect.andThen(transport.close)
      )
  }
  return conversation
}
