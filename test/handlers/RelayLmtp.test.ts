// Relay in forward mode to an LMTP upstream, end to end over sockets: our LMTP client → an LMTP
// server with Relay → an LMTP server that refuses one recipient after the data. Each recipient
// gets the upstream's own verdict, in RCPT order, through both hops.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Verdicts from "../../src/handler/Verdicts.js"
import * as Relay from "../../src/handlers/Relay.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"

const serve = <E>(options: NodeSmtpServer.Options, handler: Layer.Layer<MessageHandler.MessageHandler, E>) =>
  Effect.map(
    Layer.build(
      NodeSmtpServer.layer({ listen: ["127.0.0.1:0"], shutdownGrace: 0, ...options }).pipe(Layer.provide(handler))
    ),
    (context) => Context.get(context, SmtpServer).addresses[0]!
  )

// the mailbox store: "full@" is over quota after the data, everyone else is delivered
const store = MessageHandler.layer({
  data: (_, message) =>
    Effect.as(
      Stream.runDrain(message.body),
      Verdicts.perRecipient(
        message.envelope.recipients.map((r) =>
          r.address.startsWith("full@") ? new SmtpError.MailboxUnavailable({ text: "Over quota" }) : undefined
        )
      )
    )
})

describe("Relay to an LMTP upstream", () => {
  it.effect("answers an LMTP client per recipient with the upstream's verdicts", () =>
    Effect.gen(function* () {
      const upstream = yield* serve({ lmtp: true }, store)
      const relay = yield* serve(
        { lmtp: true },
        Relay.layer({
          upstream: { host: upstream.address, port: upstream.port, lmtp: true, startTls: "off" },
          received: false
        }).pipe(Layer.provide(NodeSmtpClient.layer))
      )
      const client = yield* SmtpClient.SmtpClient
      const connection = yield* client.connect({ host: relay.address, port: relay.port, lmtp: true, startTls: "off" })
      const result = yield* connection.send(
        {
          mailFrom: "a@example.com",
          mailParameters: [],
          recipients: ["one@example.com", "full@example.com", "two@example.com"].map((address) => ({
            address,
            parameters: []
          }))
        },
        Stream.make(new TextEncoder().encode("Subject: hi\r\n\r\nHello\r\n"))
      )
      expect(result.accepted).toEqual(["one@example.com", "two@example.com"])
      expect(result.refused.map((r) => [r.address, r.reply.code, r.reply.enhanced])).toEqual([
        ["full@example.com", 550, "5.2.1"]
      ])
    }).pipe(Effect.scoped, Effect.provide(NodeSmtpClient.layer))
  )
})
