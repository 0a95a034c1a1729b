/**
 * The message handler service: what the server asks at MAIL, at RCPT, and what it hands the
 * message to at DATA. smtpd's `process_message` and aiosmtpd's handler hooks, as an Effect
 * service provided by a Layer.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Parameters from "../protocol/Parameters.js"
import type * as Reply from "../protocol/Reply.js"
import type * as Session from "../protocol/Session.js"
import type * as SmtpError from "../protocol/SmtpError.js"
import type * as Message from "./Message.js"
import type { SessionInfo } from "./SessionInfo.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Handler {
  /** MAIL FROM: fail to refuse the sender (250 2.1.0 otherwise). */
  readonly mail: (
    session: SessionInfo,
    from: string,
    parameters: Parameters.Parameters
  ) => Effect.Effect<void, SmtpError.SmtpError>
  /** RCPT TO: fail to refuse this recipient (250 2.1.5 otherwise). */
  readonly rcpt: (session: SessionInfo, recipient: Session.Recipient) => Effect.Effect<void, SmtpError.SmtpError>
  /**
   * DATA: consume `message.body` and store or pass the message on. Succeed for 250 2.0.0 (or
   * with a Reply of your own), fail with an SMTP error to refuse it.
   */
  readonly data: (
    session: SessionInfo,
    message: Message.Message
  ) => Effect.Effect<void | Reply.Reply, SmtpError.SmtpError | Message.BodyError>
  /**
   * The transaction that an accepted MAIL opened is over: after the reply to DATA, or on RSET,
   * HELO/EHLO, QUIT, or the end of the session (even an interrupted one). Handlers that hold
   * something per transaction (an upstream connection, a temporary file) release it here.
   */
  readonly reset?: ((session: SessionInfo) => Effect.Effect<void>) | undefined
}

/**
 * @since 0.1.0
 * @category services
 */
export class MessageHandler extends Context.Service<MessageHandler, Handler>()("effect-smtpd/MessageHandler") {}

/**
 * A handler from the hooks given; the others accept everything, and an absent `data` reads
 * the message and discards it (the server drains it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (hooks: Partial<Handler>): Handler =>
  MessageHandler.of({
    mail: hooks.mail ?? acceptAll,
    rcpt: hooks.rcpt ?? acceptAll,
    data: hooks.data ?? acceptAll,
    reset: hooks.reset
  })

/**
 * The hook that accepts without looking. The server recognises it and skips the call, so a
 * hook you do not write costs nothing per message; an unread body is drained by the server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acceptAll = (): Effect.Effect<void> => Effect.void

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (hooks: Partial<Handler>): Layer.Layer<MessageHandler> =>
  Layer.succeed(MessageHandler, make(hooks))
