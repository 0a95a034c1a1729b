// The testing kit as an application's test uses it: SmtpTest's scope closes at once mid-DATA on
// TestClock, its clients are local unless told otherwise (a Relay relays for them), and the
// fixtures build what a hook is called with.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Relay from "../../src/handlers/Relay.js"
import * as MailQueue from "../../src/queue/MailQueue.js"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import { Fixtures, SmtpTest, TestTransport } from "../../src/testing/index.js"

// a server in a scope of its own, with a client that has just been told 354
const midData = (options: Parameters<typeof SmtpTest.server>[0]) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const server = yield* SmtpTest.server(options).pipe(
      Effect.provideService(
        MessageHandler.MessageHandler,
        MessageHandler.make({ data: (_, message) => Stream.runDrain(message.body) })
      ),
      Scope.provide(scope)
    )
    const client = yield* server.connect
    yield* client.reply
    yield* SmtpTest.command(client, "EHLO client.test")
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    yield* client.replies(3)
    return { client, scope, server }
  })

describe("SmtpTest.server", () => {
  it.effect("closes its scope at once with a message in the middle of DATA, on TestClock", () =>
    Effect.gen(function* () {
      const { client, scope, server } = yield* midData({})
      yield* client.send("Subject: half a message\r\n")
      // no TestClock.adjust: a grace period would wait here for good
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Fiber.join(closing)
      yield* client.awaitClose
      expect(yield* server.active).toBe(0)
    })
  )

  it.effect("keeps a grace period when asked: a message in progress may finish within it", () =>
    Effect.gen(function* () {
      const { client, scope } = yield* midData({ shutdownGrace: "10 seconds" })
      yield* client.send("Subject: x\r\n")
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("5 seconds")
      expect(closing.pollUnsafe()).toBeUndefined()
      yield* client.send("\r\nbody\r\n.\r\n")
      expect((yield* client.reply).code).toBe(250)
      yield* Fiber.join(closing)
    })
  )

  it.effect("its clients are on the loopback address unless told otherwise: a Relay relays for them", () =>
    Effect.gen(function* () {
      const queued: Array<string> = []
      // a queue that only reads the body: the relay's own RCPT check is what is tested
      const enqueue: MailQueue.Service["enqueue"] = (submission, body) =>
        Effect.as(
          Effect.andThen(
            Stream.runDrain(body),
            Effect.sync(() => void queued.push(submission.recipients[0]!.address))
          ),
          "Q1"
        )
      const queue = { enqueue } as unknown as MailQueue.Service
      const handler = yield* Layer.build(
        Relay.layer({ upstream: { host: "upstream.test", port: 25 }, mode: "queue" }).pipe(
          Layer.provide(
            Layer.merge(Layer.succeed(MailQueue.MailQueue, queue), Layer.succeed(SmtpClient.SmtpClient, {} as never))
          )
        )
      )
      const server = yield* SmtpTest.server().pipe(Effect.provide(handler))
      const local = yield* server.connect
      yield* local.reply
      yield* SmtpTest.command(local, "EHLO client.test")
      yield* SmtpTest.command(local, "MAIL FROM:<a@example.com>")
      expect((yield* SmtpTest.command(local, "RCPT TO:<b@example.net>")).code).toBe(250)
      const stranger = yield* server.connectWith({ remote: { address: "192.0.2.1", port: 40000 } })
      yield* stranger.reply
      yield* SmtpTest.command(stranger, "EHLO stranger.test")
      yield* SmtpTest.command(stranger, "MAIL FROM:<a@example.com>")
      expect((yield* SmtpTest.command(stranger, "RCPT TO:<b@example.net>")).code).toBe(550)
      expect(TestTransport.defaultRemote).toEqual({ address: "127.0.0.1", port: 40000 })
    }).pipe(Effect.scoped)
  )
})

describe("Fixtures", () => {
  it("sessionInfo: a local client after EHLO, with what the test overrides", () => {
    const session = Fixtures.sessionInfo({ auth: "alice" })
    expect(session.peer).toEqual(TestTransport.defaultRemote)
    expect(session.greeting).toEqual({ name: "client.example.com", esmtp: true })
    expect(session.auth).toBe("alice")
    expect(session.envelope).toBeUndefined()
  })

  it("envelope: parameters checked and parsed as the server does", () => {
    const envelope = Fixtures.envelope({
      from: "",
      mailParameters: "SIZE=1000 BODY=8BITMIME RET=HDRS",
      to: ["a@example.com", Fixtures.recipient("b@example.com", "NOTIFY=NEVER")]
    })
    expect(envelope.mailFrom).toBe("")
    expect(envelope.mailOptions).toMatchObject({ size: 1000, body: "8BITMIME", ret: "HDRS" })
    expect(envelope.recipients.map((r) => r.address)).toEqual(["a@example.com", "b@example.com"])
    expect(envelope.recipients[1]!.parameters).toEqual([{ keyword: "NOTIFY", value: "NEVER" }])
    expect(() => Fixtures.envelope({ mailParameters: "BODY=9BIT" })).toThrow(/refused/)
    expect(() => Fixtures.recipient("x@example.com", "=")).toThrow(/malformed/)
  })

  it.effect("message: a body that streams the given bytes, in slices if asked, readable by a data hook", () =>
    Effect.gen(function* () {
      const message = Fixtures.message("Subject: hi\r\n\r\nhello\r\n", { to: ["b@example.net"], sliceSize: 4 })
      expect(Message.rcptTos(message)).toEqual(["b@example.net"])
      expect(Message.mailFrom(message)).toBe("sender@example.com")
      const slices = yield* Stream.runCollect(message.body)
      expect(slices.every((slice) => slice.length <= 4)).toBe(true)
      expect(yield* Message.text(message)).toBe("Subject: hi\r\n\r\nhello\r\n")
      const bytes = Fixtures.message(new Uint8Array([0, 255, 10]))
      expect([...(yield* Message.bytes(bytes))]).toEqual([0, 255, 10])
      // a hook called with them
      const seen: Array<string> = []
      const handler = MessageHandler.make({
        data: (session, m) =>
          Effect.map(Message.text(m), (text) => void seen.push(`${session.peer.address} ${text.length}`))
      })
      yield* handler.data!(Fixtures.sessionInfo({ envelope: message.envelope }), message)
      expect(seen).toEqual(["127.0.0.1 22"])
    })
  )
})
