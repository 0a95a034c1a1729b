/**
 * A message as its handler receives it: the envelope, and the body as a stream that reads the
 * client's DATA while it arrives, with backpressure down to the socket.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Framer from "../protocol/Framer.js"
import * as Parameters from "../protocol/Parameters.js"
import type * as Session from "../protocol/Session.js"
import type * as SmtpError from "../protocol/SmtpError.js"

/**
 * The client went away (or went silent past the idle timeout) in the middle of DATA, or
 * abandoned a message sent in BDAT chunks (`abandoned`: RSET, or another command, between
 * chunks). Nothing of the message may be kept. A hook failing with it gets `451 4.3.0`, which
 * only a client still there would read (and an abandoned message gets no reply at all).
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientDisconnected extends Schema.TaggedError<ClientDisconnected>()("ClientDisconnected", {
  reason: Schema.Literals(["closed", "timeout", "error", "abandoned"])
}) {}

/**
 * Why a body stream can fail: the message broke a limit (the client gets the matching reply)
 * or the client is gone.
 *
 * @since 0.1.0
 * @category errors
 */
export type BodyError = SmtpError.MessageTooBig | SmtpError.BareLineEnding | ClientDisconnected

/**
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly envelope: Session.Envelope
  /**
   * The content after dot-unstuffing, CRLF line endings. It can be read once, while the client
   * sends; what the handler leaves unread is drained by the server. Once the message is answered
   * it is an empty stream.
   */
  readonly body: Stream.Stream<Uint8Array, BodyError>
  /** `decodeData` servers: handlers are expected to work with text (see `text`). */
  readonly decodeData: boolean
}

/**
 * The sender, as smtpd's `mailfrom` (`""` for the null reverse-path).
 *
 * @since 0.1.0
 * @category getters
 */
export const mailFrom = (message: Message): string => message.envelope.mailFrom

/**
 * The recipients, as smtpd's `rcpttos`.
 *
 * @since 0.1.0
 * @category getters
 */
export const rcptTos = (message: Message): ReadonlyArray<string> =>
  message.envelope.recipients.map((recipient) => recipient.address)

/**
 * The MAIL parameters as smtpd's `mail_options` (`["SIZE=1000", "BODY=8BITMIME"]`).
 *
 * @since 0.1.0
 * @category getters
 */
export const mailOptions = (message: Message): ReadonlyArray<string> =>
  message.envelope.mailParameters.map(Parameters.format)

/**
 * The RCPT parameters of all recipients, as smtpd's `rcpt_options`.
 *
 * @since 0.1.0
 * @category getters
 */
export const rcptOptions = (message: Message): ReadonlyArray<string> =>
  message.envelope.recipients.flatMap((recipient) => recipient.parameters.map(Parameters.format))

/**
 * The key of a message's whole body at once, which a message may offer when it already holds all
 * of it (the server's messages do when they were small enough to be kept before their handler
 * was called): `bytes` then reads it without running the body's stream, which costs a scope and
 * a score of effects. A method there returns the body, consumed as reading the stream would
 * consume it, or `undefined` when it is not all in memory. Put it on a prototype: a message copied
 * with spread (to replace its body) must not carry it.
 *
 * @since 0.3.0
 * @category symbols
 */
export const whole: unique symbol = Symbol.for("effect-smtpd/Message/whole")

const wholeOf = (message: Message): Uint8Array | undefined =>
  whole in message ? (message as { readonly [whole]: () => Uint8Array | undefined })[whole]() : undefined

/**
 * Reads the whole body into memory. Use it only where messages are known to be small.
 *
 * @since 0.1.0
 * @category destructors
 */
export const bytes = (message: Message): Effect.Effect<Uint8Array, BodyError> => {
  const whole = wholeOf(message)
  return whole === undefined ? Stream.runCollect(message.body).pipe(Effect.map(Framer.concat)) : Effect.succeed(whole)
}

/**
 * Reads the whole body as UTF-8 text (invalid sequences become U+FFFD).
 *
 * @since 0.1.0
 * @category destructors
 */
export const text = (message: Message): Effect.Effect<string, BodyError> =>
  Effect.map(bytes(message), (data) => new TextDecoder().decode(data))
