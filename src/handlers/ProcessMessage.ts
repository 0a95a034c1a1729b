/**
 * smtpd's `process_message(peer, mailfrom, rcpttos, data, **kwargs)` as one Effect function:
 * it gets the whole message (bytes, or text with `decodeData`) once DATA is complete. Return
 * nothing for `250`, or a Reply of your own; fail with an SMTP error to refuse the message.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import { formatEndpoint, type Endpoint } from "../handler/SessionInfo.js"
import type * as Reply from "../protocol/Reply.js"
import type * as SmtpError from "../protocol/SmtpError.js"

/**
 * What smtpd passed to `process_message`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  /** The client's address and port. */
  readonly peer: Endpoint
  /** `host:port` of the client, as smtpd's `X-Peer` showed it. */
  readonly peerText: string
  /** The reverse-path, `""` for `<>`. */
  readonly mailFrom: string
  readonly rcptTos: ReadonlyArray<string>
  /** The message: bytes, or a string when the server runs with `decodeData`. */
  readonly data: Uint8Array | string
  readonly mailOptions: ReadonlyArray<string>
  readonly rcptOptions: ReadonlyArray<string>
  /** The HELO/EHLO name. */
  readonly helo: string | undefined
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = <E extends SmtpError.SmtpError = never>(
  processMessage: (delivery: Delivery) => Effect.Effect<void | Reply.Reply, E>
): Layer.Layer<MessageHandler.MessageHandler> =>
  MessageHandler.layer({
    data: (session, message) =>
      Effect.flatMap(
        message.decodeData
          ? Message.text(message)
          : (Message.bytes(message) as Effect.Effect<Uint8Array | string, Message.BodyError>),
        (data) =>
          processMessage({
            peer: session.peer,
            peerText: formatEndpoint(session.peer),
            mailFrom: Message.mailFrom(message),
            rcptTos: Message.rcptTos(message),
            data,
            mailOptions: Message.mailOptions(message),
            rcptOptions: Message.rcptOptions(message),
            helo: session.greeting?.name
          })
      )
  })
