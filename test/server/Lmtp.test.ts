// LMTP (RFC 2033): LHLO instead of HELO/EHLO, and after the data one reply per accepted
// recipient, in RCPT order, each the handler's verdict for it.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import type * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Verdicts from "../../src/handler/Verdicts.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpTest } from "../../src/testing/index.js"
import type { TestClient } from "../../src/testing/TestTransport.js"
import { now } from "../utils/clock.js"
import { code, command } from "../utils/conversation.js"

// refuses "nobody@" at RCPT; at the end of the data, "full@" is over quota, "later@" is
// deferred, "own@" gets a reply of its own, anyone else is delivered
const verdictFor = (address: string): Verdicts.Verdict => {
  if (address.startsWith("full@")) return new SmtpError.MailboxUnavailable({ text: "Over quota" })
  if (address.startsWith("later@")) return new SmtpError.MailboxUnavailable({ transient: true })
  if (address.startsWith("own@")) return Reply.make(250, "2.1.5", `Delivered to ${address}`)
  return undefined
}

const handler = (seen: Ref.Ref<Array<string>>, each = true) =>
  MessageHandler.layer({
    rcpt: (_, recipient) =>
      recipient.address.startsWith("nobody@") ? Effect.fail(new SmtpError.MailboxNotFound()) : Effect.void,
    data: (session: SessionInfo, message: Message.Message) =>
      Effect.gen(function* () {
        yield* Ref.update(seen, (all) => [...all, session.protocol ?? "none"])
        const recipients = message.envelope.recipients.map((r) => r.address)
        return each ? Verdicts.perRecipient(recipients.map(verdictFor)) : undefined
      })
  })

const lhlo = (client: TestClient) =>
  Effect.gen(function* () {
    yield* client.reply
    const reply = yield* command(client, "LHLO client.test")
    expect(reply.code).toBe(250)
    expect(reply.lines).toEqual(expect.arrayContaining(["PIPELINING", "ENHANCEDSTATUSCODES", "CHUNKING"]))
  })

const envelope = (client: TestClient, recipients: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
    for (const to of recipients) yield* command(client, `RCPT TO:<${to}>`)
  })

describe("LMTP (RFC 2033)", () => {
  it.effect("LHLO greets; HELO and EHLO get 500 5.5.1; an SMTP server does not know LHLO", () =>
    Effect.gen(function* () {
      const lmtp = yield* (yield* SmtpTest.server({ lmtp: true })).connect
      yield* lmtp.reply
      expect((yield* command(lmtp, "HELO client.test")).code).toBe(500)
      expect((yield* command(lmtp, "EHLO client.test")).code).toBe(500)
      expect(code(yield* command(lmtp, "LHLO client.test"))).toBe("250")
      expect(code(yield* command(lmtp, "EHLO client.test"))).toBe("500 5.5.1")
      const smtp = yield* (yield* SmtpTest.server()).connect
      yield* smtp.reply
      expect((yield* command(smtp, "LHLO client.test")).code).toBe(500)
    }).pipe(Effect.provide(MessageHandler.layer({})))
  )

  it.effect("after DATA, one reply per recipient accepted at RCPT, in RCPT order, each the handler's", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<Array<string>>([])
      const client = yield* (yield* SmtpTest.server({ lmtp: true }).pipe(Effect.provide(handler(seen)))).connect
      yield* lhlo(client)
      yield* envelope(client, [
        "ok@example.com",
        "nobody@example.com",
        "full@example.com",
        "later@example.com",
        "own@example.com"
      ])
      expect((yield* command(client, "DATA")).code).toBe(354)
      yield* client.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
      const replies = yield* now(client.replies(4))
      expect(replies.map(code)).toEqual(["250 2.0.0", "550 5.2.1", "450 4.2.1", "250 2.1.5"])
      expect(replies[3]!.lines[0]).toBe("Delivered to own@example.com")
      expect(code(yield* now(command(client, "NOOP")))).toBe("250 2.0.0")
      expect(yield* Ref.get(seen)).toEqual(["lmtp"])
    })
  )

  it.effect("after BDAT LAST too; a refusal of the whole message is every recipient's", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<Array<string>>([])
      const server = yield* SmtpTest.server({ lmtp: true, maxMessageSize: 8 }).pipe(Effect.provide(handler(seen)))
      const client = yield* server.connect
      yield* lhlo(client)
      yield* envelope(client, ["ok@example.com", "full@example.com"])
      yield* client.send("BDAT 3\r\nabcBDAT 2 LAST\r\nde")
      expect((yield* now(client.replies(3))).map(code)).toEqual(["250 2.0.0", "250 2.0.0", "550 5.2.1"])
      yield* envelope(client, ["ok@example.com", "later@example.com"])
      yield* client.send("BDAT 10 LAST\r\n0123456789")
      expect((yield* now(client.replies(2))).map(code)).toEqual(["552 5.3.4", "552 5.3.4"])
    })
  )

  it.effect("a handler that does not answer per recipient answers for all; missing verdicts get 451 4.3.0", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<Array<string>>([])
      const all = yield* (yield* SmtpTest.server({ lmtp: true }).pipe(Effect.provide(handler(seen, false)))).connect
      yield* lhlo(all)
      yield* envelope(all, ["full@example.com", "ok@example.com"])
      yield* all.send("BDAT 2 LAST\r\nhi")
      expect((yield* now(all.replies(2))).map(code)).toEqual(["250 2.0.0", "250 2.0.0"])
      const short = MessageHandler.layer({ data: () => Effect.succeed(Verdicts.perRecipient([undefined])) })
      const client = yield* (yield* SmtpTest.server({ lmtp: true }).pipe(Effect.provide(short))).connect
      yield* lhlo(client)
      yield* envelope(client, ["a@example.com", "b@example.com"])
      yield* client.send("BDAT 2 LAST\r\nhi")
      expect((yield* now(client.replies(2))).map(code)).toEqual(["250 2.0.0", "451 4.3.0"])
    })
  )

  it.effect("over SMTP the verdicts fold into one reply: a temporary refusal first, so nothing is lost", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<Array<string>>([])
      const server = yield* SmtpTest.server().pipe(Effect.provide(handler(seen)))
      const client = yield* server.connect
      yield* client.reply
      yield* command(client, "EHLO client.test")
      for (const [recipients, expected] of [
        [["ok@example.com", "own@example.com"], "250 2.0.0"],
        [["ok@example.com", "full@example.com", "later@example.com"], "450 4.2.1"],
        [["ok@example.com", "full@example.com"], "550 5.2.1"]
      ] as const) {
        yield* envelope(client, recipients)
        yield* client.send("BDAT 2 LAST\r\nhi")
        expect(code(yield* now(client.reply))).toBe(expected)
      }
      expect(yield* Ref.get(seen)).toEqual(["smtp", "smtp", "smtp"])
    })
  )
})
