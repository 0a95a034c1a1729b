// Testing a handler that needs a service, with @effect/vitest: its hooks alone (Fixtures), then
// whole sessions against the in-memory server (SmtpTest), the service replaced by one in memory.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { Fixtures, SmtpTest } from "effect-smtpd/testing"
import * as Handler from "./Handler.js"
import * as Mailboxes from "./Mailboxes.js"

describe("the handler's hooks", () => {
  it.effect("refuses RCPT for a mailbox that does not exist (550 5.1.1)", () => {
    const mailboxes = Mailboxes.inMemory(["alice@example.com"])
    return Effect.gen(function* () {
      const handler = yield* Handler.make
      const session = Fixtures.sessionInfo()
      const known = yield* Effect.exit(handler.rcpt!(session, Fixtures.recipient("Alice@example.com")))
      const unknown = yield* Effect.exit(handler.rcpt!(session, Fixtures.recipient("bob@example.com")))
      expect(Exit.isSuccess(known)).toBe(true)
      expect(Exit.isFailure(unknown)).toBe(true)
    }).pipe(Effect.provide(mailboxes.layer))
  })

  it.effect("delivers the message's text to its recipients", () => {
    const mailboxes = Mailboxes.inMemory(["alice@example.com"])
    return Effect.gen(function* () {
      const handler = yield* Handler.make
      const message = Fixtures.message("Subject: hi\r\n\r\nhello\r\n", { to: ["alice@example.com"] })
      yield* handler.data!(Fixtures.sessionInfo({ envelope: message.envelope }), message)
      expect(mailboxes.delivered.get("alice@example.com")).toEqual(["Subject: hi\r\n\r\nhello\r\n"])
    }).pipe(Effect.provide(mailboxes.layer))
  })
})

describe("the handler in a server", () => {
  // the server's scope is the test's: it is shut down (at once) when the test ends
  const serving = (mailboxes: ReturnType<typeof Mailboxes.inMemory>) =>
    SmtpTest.server().pipe(Effect.provide(Handler.layer.pipe(Layer.provide(mailboxes.layer))))

  it.effect("a whole session: one recipient refused, the message delivered to the other", () => {
    const mailboxes = Mailboxes.inMemory(["alice@example.com"])
    return Effect.gen(function* () {
      const server = yield* serving(mailboxes)
      const client = yield* server.connect
      expect((yield* client.reply).code).toBe(220)
      yield* SmtpTest.command(client, "EHLO client.example.com")
      yield* SmtpTest.command(client, "MAIL FROM:<sender@example.net>")
      expect((yield* SmtpTest.command(client, "RCPT TO:<alice@example.com>")).code).toBe(250)
      const refused = yield* SmtpTest.command(client, "RCPT TO:<bob@example.com>")
      expect([refused.code, refused.enhanced]).toEqual([550, "5.1.1"])
      expect((yield* SmtpTest.command(client, "DATA")).code).toBe(354)
      expect((yield* SmtpTest.command(client, "Subject: hi\r\n\r\nhello\r\n.")).code).toBe(250)
      expect(mailboxes.delivered.get("alice@example.com")).toEqual(["Subject: hi\r\n\r\nhello\r\n"])
    })
  })

  it.effect("a test may stop in the middle of a message: the server closes with the test", () => {
    const mailboxes = Mailboxes.inMemory(["alice@example.com"])
    return Effect.gen(function* () {
      const server = yield* serving(mailboxes)
      const client = yield* server.connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO client.example.com")
      yield* client.send("MAIL FROM:<sender@example.net>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
      expect((yield* client.replies(3)).map((reply) => reply.code)).toEqual([250, 250, 354])
      yield* client.send("Subject: never finished\r\n")
      // the test ends here; nothing was delivered
      expect(mailboxes.delivered.get("alice@example.com")).toEqual([])
    })
  })
})
