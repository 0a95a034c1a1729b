// Our own server on a loopback port, for the SmtpClient tests: it records what it stores and
// refuses recipients that start with "refuse".
import { Context, Effect, Layer, Schedule } from "effect"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"

// --- our server, refusing recipients that start with "refuse" ---------------------------------

const RefusingRecording = Layer.effectContext(
  Effect.gen(function* () {
    const context = yield* Layer.build(Recording.layer)
    const recording = Context.get(context, MessageHandler.MessageHandler)
    return Context.add(
      context,
      MessageHandler.MessageHandler,
      MessageHandler.make({
        data: recording.data,
        rcpt: (_session, recipient) =>
          recipient.address.startsWith("refuse")
            ? Effect.fail(new SmtpError.MailboxNotFound({ text: `No mailbox ${recipient.address}` }))
            : Effect.void
      })
    )
  })
)

export const ourServer = (options: NodeSmtpServer.Options = {}) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "mx.test", shutdownGrace: "1 second", ...options }).pipe(
        Layer.provideMerge(RefusingRecording)
      )
    )
    const server = Context.get(context, SmtpServer)
    return {
      host: "127.0.0.1",
      port: server.addresses[0]!.port,
      deliveries: Context.get(context, Recording.Recording).deliveries,
      // once the server has seen every session end, what it stored is final
      settled: server.activeSessions.pipe(
        Effect.filterOrFail((active) => active === 0),
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 }),
        Effect.orDie
      )
    }
  })
