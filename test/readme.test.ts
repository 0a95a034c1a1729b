// The README's examples, kept compiling and working: if one of these changes, change the README.
import { expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import {
  MessageHandler,
  NodeSmtpServer,
  ProcessMessage,
  Recording,
  Reply,
  SmtpError,
  SmtpServer
} from "../src/index.js"
import { SmtpTest } from "../src/testing/index.js"

it.scoped("the ten-line server: refuses foreign recipients and streams the body", () => {
  const seen: Array<number> = []
  const Handler = MessageHandler.layer({
    rcpt: (_session, recipient) =>
      recipient.address.endsWith("@example.com") ? Effect.void : Effect.fail(new SmtpError.RelayDenied()),
    data: (_session, message) =>
      Stream.runForEach(message.body, (chunk) =>
        Effect.sync(() => seen.push(chunk.length)).pipe(
          Effect.zipRight(Effect.log(`${chunk.length} bytes for ${message.envelope.recipients.length} recipients`))
        )
      )
  })
  return Effect.gen(function* () {
    const { addresses } = yield* SmtpServer.SmtpServer
    expect(addresses[0]!.port).toBeGreaterThan(0)
    const client = yield* (yield* SmtpTest.server()).connect
    yield* client.reply
    yield* client.send(
      "EHLO me\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@elsewhere.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
    )
    const replies = yield* client.replies(5)
    expect(replies.map((r) => r.code)).toEqual([250, 250, 550, 250, 354])
    yield* client.send("hello\r\n.\r\n")
    expect((yield* client.reply).code).toBe(250)
    expect(seen).toEqual([7])
  }).pipe(Effect.provide(NodeSmtpServer.layer({ listen: ["127.0.0.1:0"] })), Effect.provide(Handler))
})

it.scoped("ProcessMessage: the handler's reply replaces 250", () => {
  const Handler = ProcessMessage.layer((delivery) =>
    Effect.log(`from ${delivery.mailFrom} to ${delivery.rcptTos.join(", ")}: ${delivery.data.length} bytes`).pipe(
      Effect.as(Reply.make(250, "2.0.0", "Thanks"))
    )
  )
  return Effect.gen(function* () {
    const client = yield* (yield* SmtpTest.server()).connect
    yield* client.reply
    yield* client.send("EHLO me\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\n")
    const replies = yield* client.replies(5)
    expect(replies[4]!.lines).toEqual(["Thanks"])
  }).pipe(Effect.provide(Handler))
})

it.scoped("your own commands", () =>
  Effect.gen(function* () {
    const server = yield* SmtpTest.server({
      commands: {
        XHELLO: (session, argument) =>
          Effect.succeed(Reply.make(250, "2.0.0", `hello ${argument}, ${session.peer.address}`))
      }
    })
    const client = yield* server.connect
    yield* client.reply
    yield* client.send("XHELLO world\r\n")
    expect((yield* client.reply).lines).toEqual(["hello world, 192.0.2.1"])
  }).pipe(Effect.provide(Recording.layer))
)

it.scoped("testing your code: stores the message", () =>
  Effect.gen(function* () {
    const client = yield* (yield* SmtpTest.server()).connect
    yield* client.reply // 220
    yield* client.send("EHLO me\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    yield* client.replies(4)
    yield* client.send("Subject: test\r\n\r\nhi\r\n.\r\n")
    expect((yield* client.reply).code).toBe(250)
    expect(yield* Recording.deliveries).toHaveLength(1)
  }).pipe(Effect.provide(Recording.layer))
)
