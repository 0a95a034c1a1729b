/**
 * A handler whose hooks need a service: RCPT is refused for a mailbox that does not exist, and
 * a message is delivered to the recipients' mailboxes. `MessageHandler.layer` takes hooks that
 * need nothing, so the service is taken once, when the layer is built, and the hooks close over
 * it (`Layer.effect`): the layer then needs `Mailboxes`, and a test or the application gives it.
 */
import { Effect, Layer } from "effect"
import { Message, MessageHandler, SmtpError } from "effect-smtpd"
import { Mailboxes } from "./Mailboxes.js"

export const make = Effect.gen(function* () {
  const mailboxes = yield* Mailboxes
  return MessageHandler.make({
    rcpt: (_session, recipient) =>
      Effect.flatMap(mailboxes.exists(recipient.address), (exists) =>
        exists ? Effect.void : Effect.fail(new SmtpError.MailboxNotFound())
      ),
    data: (_session, message) =>
      Effect.flatMap(Message.text(message), (content) => mailboxes.deliver(Message.rcptTos(message), content))
  })
})

export const layer: Layer.Layer<MessageHandler.MessageHandler, never, Mailboxes> = Layer.effect(
  MessageHandler.MessageHandler,
  make
)
