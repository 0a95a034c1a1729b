/**
 * The message handler of `-c Inbox`: each message read whole (the server's SIZE bounds it),
 * parsed and kept in the `Inbox`; the client's 250 names its id. A store that fails answers
 * `451 4.3.0`, so the client tries again. With chaos enabled, MAIL and RCPT fail as its
 * triggers say (only then do they have hooks: a hook costs each command a turn of the session).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Message from "../handler/Message.js"
import * as MessageHandler from "../handler/MessageHandler.js"
import * as Reply from "../protocol/Reply.js"
import * as SmtpError from "../protocol/SmtpError.js"
import * as Chaos from "./Chaos.js"
import * as Inbox from "./Inbox.js"
import * as ErrorText from "../internal/ErrorText.js"

const unavailable = new SmtpError.Custom({
  code: 451,
  enhanced: "4.3.0",
  text: "Temporary local problem: the inbox cannot take the message now"
})

/**
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<MessageHandler.MessageHandler, never, Inbox.Inbox | Chaos.Chaos> = Layer.effect(
  MessageHandler.MessageHandler,
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const chaos = yield* Chaos.Chaos
    const triggers: MessageHandler.Hooks = chaos.enabled
      ? { mail: () => chaos.roll("Sender"), rcpt: () => chaos.roll("Recipient") }
      : {}
    return MessageHandler.make({
      ...triggers,
      data: (session, message) =>
        Message.bytes(message).pipe(
          Effect.flatMap((raw) =>
            inbox.store(raw, {
              mailFrom: Message.mailFrom(message),
              recipients: Message.rcptTos(message),
              ...(session.auth === undefined ? {} : { username: session.auth })
            })
          ),
          Effect.map((summary) => Reply.make(250, "2.0.0", `Ok: stored as ${summary.ID}`)),
          Effect.catchTag("InboxError", (error) =>
            Effect.andThen(
              Effect.logError(`inbox: cannot store a message: ${ErrorText.ofError(error)}`),
              Effect.fail(unavailable)
            )
          )
        )
    })
  })
)
