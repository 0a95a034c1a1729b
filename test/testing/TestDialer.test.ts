// TestDialer: SmtpClient, and a Relay, talking to in-memory upstream servers (SmtpTest.server)
// with no sockets; STARTTLS simulated when the upstream offers it; a target with no server is
// refused as a closed port is.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, References, Stream } from "effect"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as Relay from "../../src/handlers/Relay.js"
import { SmtpTest, TestDialer } from "../../src/testing/index.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const envelope = {
  mailFrom: "a@example.com",
  mailParameters: [],
  recipients: [{ address: "b@example.net", parameters: [] }]
}

describe("TestDialer", () => {
  it.effect("SmtpClient sends a message to an in-memory server, over STARTTLS when it offers it", () =>
    Effect.gen(function* () {
      const recording = yield* Layer.build(Recording.layer)
      const upstream = yield* SmtpTest.server({ startTls: true }).pipe(Effect.provide(recording))
      const smtp = yield* SmtpClient.make.pipe(Effect.provide(TestDialer.layer(upstream)))
      const sent = yield* Effect.scoped(
        Effect.flatMap(smtp.connect({ host: "upstream.test", port: 25, startTls: "required" }), (connection) =>
          Effect.map(
            connection.send(envelope, Stream.make(encoder.encode("Subject: hi\r\n\r\nhello\r\n"))),
            (result) => ({
              result,
              secure: connection.secure
            })
          )
        )
      )
      expect(sent.result.reply.code).toBe(250)
      expect(sent.secure).toBe(true)
      const deliveries = yield* Recording.deliveries.pipe(Effect.provide(recording))
      expect(deliveries.map((d) => decoder.decode(d.data))).toEqual(["Subject: hi\r\n\r\nhello\r\n"])
    })
  )

  it.effect("a Relay between two in-memory servers: the upstream records the relayed message", () =>
    Effect.gen(function* () {
      const recording = yield* Layer.build(Recording.layer)
      const upstream = yield* SmtpTest.server({ hostname: "upstream.test" }).pipe(Effect.provide(recording))
      const relayHandler = yield* Layer.build(
        Relay.layer({ upstream: { host: "upstream.test", port: 25 } }).pipe(
          Layer.provide(SmtpClient.layer.pipe(Layer.provide(TestDialer.layer({ "upstream.test:25": upstream }))))
        )
      )
      const relay = yield* SmtpTest.server({ hostname: "relay.test" }).pipe(Effect.provide(relayHandler))
      const client = yield* relay.connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO client.test")
      expect((yield* SmtpTest.command(client, "MAIL FROM:<a@example.com>")).code).toBe(250)
      expect((yield* SmtpTest.command(client, "RCPT TO:<b@example.net>")).code).toBe(250)
      expect((yield* SmtpTest.command(client, "DATA")).code).toBe(354)
      expect((yield* SmtpTest.command(client, "Subject: relayed\r\n\r\nhi\r\n.")).code).toBe(250)
      const deliveries = yield* Recording.deliveries.pipe(Effect.provide(recording))
      expect(deliveries).toHaveLength(1)
      const text = decoder.decode(deliveries[0]!.data)
      expect(text).toMatch(/^Received: from client\.test \(\[127\.0\.0\.1\]\)[^]*by relay\.test/)
      expect(text.endsWith("Subject: relayed\r\n\r\nhi\r\n")).toBe(true)
      expect(deliveries[0]!.envelope.recipients.map((r) => r.address)).toEqual(["b@example.net"])
    })
  )

  it.effect("a target with no server is refused: the Relay answers 451 4.4.1 at MAIL", () =>
    Effect.gen(function* () {
      const upstream = yield* SmtpTest.server().pipe(
        Effect.provideService(MessageHandler.MessageHandler, MessageHandler.make({}))
      )
      const relayHandler = yield* Layer.build(
        Relay.layer({ upstream: { host: "elsewhere.test", port: 25 } }).pipe(
          Layer.provide(SmtpClient.layer.pipe(Layer.provide(TestDialer.layer({ "upstream.test:25": upstream }))))
        )
      )
      const relay = yield* SmtpTest.server().pipe(Effect.provide(relayHandler))
      const client = yield* relay.connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO client.test")
      const refused = yield* SmtpTest.command(client, "MAIL FROM:<a@example.com>")
      expect([refused.code, refused.enhanced]).toEqual([451, "4.4.1"])
    }).pipe(Effect.provideService(References.MinimumLogLevel, "None"))
  )
})
