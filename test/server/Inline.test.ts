// Commands answered inline (in the transport's callback, without waking the session's fiber): whole
// sessions with the Sink handler, DATA drained inline (split bodies, limits, the minimum data rate,
// shutdown), and hooks and slow errors that hand over to the fiber. Over real sockets:
// test/node/NodeTransport.test.ts.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Sink from "../../src/handlers/Sink.js"
import type * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpTest } from "../../src/testing/index.js"
import type { TestClient } from "../../src/testing/TestTransport.js"
import { now } from "../utils/clock.js"
import { delayedReply } from "../utils/delayed.js"
import { counts, delta } from "../utils/messageMetrics.js"

const code = (reply: Reply.Reply) => `${reply.code}${reply.enhanced === undefined ? "" : ` ${reply.enhanced}`}`
const codes = (replies: ReadonlyArray<Reply.Reply>) => replies.map(code)
const command = SmtpTest.command

// connected and greeted with EHLO
const greeted = (server: SmtpTest.TestServer) =>
  Effect.gen(function* () {
    const client = yield* server.connect
    expect((yield* client.reply).code).toBe(220)
    expect((yield* command(client, "EHLO client.test")).code).toBe(250)
    return client
  })

// a failed test leaves its session in DATA, which shutdown would wait for (on TestClock, forever)
const hangUpAtEnd = (client: TestClient) => Effect.addFinalizer(() => client.end)

// the envelope and DATA pipelined (RFC 2920 §3.1: DATA ends the group): the client may send the body
const openData = (client: TestClient) =>
  Effect.gen(function* () {
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    expect(codes(yield* now(client.replies(3)))).toEqual(["250 2.1.0", "250 2.1.5", "354"])
  })

describe("inline sessions (Sink)", () => {
  it.effect("a whole session: EHLO, two transactions, QUIT, close", () =>
    Effect.gen(function* () {
      const before = yield* counts
      const client = yield* greeted(yield* SmtpTest.server())
      for (const body of ["first\r\n", "second\r\nmessage\r\n"]) {
        expect(code(yield* now(command(client, "MAIL FROM:<a@example.com>")))).toBe("250 2.1.0")
        expect(code(yield* now(command(client, "RCPT TO:<b@example.com>")))).toBe("250 2.1.5")
        expect(code(yield* now(command(client, "DATA")))).toBe("354")
        yield* client.send(`${body}.\r\n`)
        expect(code(yield* now(client.reply))).toBe("250 2.0.0")
      }
      expect(code(yield* now(command(client, "QUIT")))).toBe("221 2.0.0")
      yield* client.awaitClose
      expect(delta(before, yield* counts)).toEqual({ accepted: 2, rejected: 0, bytes: 7 + 17 })
    }).pipe(Effect.provide(Sink.layer))
  )

  it.effect("a pipelined batch is answered in order in one write; a split body ends exactly at its terminator", () =>
    Effect.gen(function* () {
      const before = yield* counts
      const client = yield* greeted(yield* SmtpTest.server())
      const writes = yield* client.writes
      yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n")
      expect(codes(yield* now(client.replies(4)))).toEqual(["250 2.1.0", "250 2.1.5", "250 2.1.5", "354"])
      expect((yield* client.writes) - writes).toBe(1)
      // "..\r\n" is a stuffed dot, not the end; the terminator comes in four pieces, NOOP behind it
      for (const piece of ["Subject: x\r\n\r\nhel", "lo\r\n..\r\nlast\r", "\n.", "\r", "\nNOOP\r\n"]) {
        yield* client.send(piece)
      }
      expect(codes(yield* now(client.replies(2)))).toEqual(["250 2.0.0", "250 2.0.0"])
      expect(code(yield* now(command(client, "NOOP")))).toBe("250 2.0.0")
      // "Subject: x\r\n\r\nhello\r\n.\r\nlast\r\n": one message of exactly these bytes
      expect(delta(before, yield* counts)).toEqual({ accepted: 1, rejected: 0, bytes: 30 })
    }).pipe(Effect.provide(Sink.layer))
  )

  it.effect("an oversized body gets 552 5.3.4 and the session goes on", () =>
    Effect.gen(function* () {
      const before = yield* counts
      const client = yield* greeted(yield* SmtpTest.server({ maxMessageSize: 100 }))
      yield* openData(client)
      yield* client.send("x".repeat(60) + "\r\n")
      yield* client.send("..".repeat(60) + "\r\n.\r\n")
      expect(code(yield* now(client.reply))).toBe("552 5.3.4")
      expect(code(yield* now(command(client, "MAIL FROM:<a@example.com>")))).toBe("250 2.1.0")
      expect(code(yield* now(command(client, "RCPT TO:<b@example.com>")))).toBe("250 2.1.5")
      expect(code(yield* now(command(client, "DATA")))).toBe("354")
      yield* client.send("small\r\n.\r\n")
      expect(code(yield* now(client.reply))).toBe("250 2.0.0")
      expect(delta(before, yield* counts)).toEqual({ accepted: 1, rejected: 1, bytes: 7 })
    }).pipe(Effect.provide(Sink.layer))
  )

  it.effect("a bare LF under bareLineEndings reject gets 550 5.6.11 and the session goes on", () =>
    Effect.gen(function* () {
      const before = yield* counts
      const client = yield* greeted(yield* SmtpTest.server({ bareLineEndings: "reject" }))
      yield* openData(client)
      yield* client.send("a\nb\r\n.\r\n")
      const refused = yield* now(client.reply)
      expect(code(refused)).toBe("550 5.6.11")
      expect(refused.lines).toEqual(["Bare CR or LF not allowed in message content"])
      expect(code(yield* now(command(client, "MAIL FROM:<a@example.com>")))).toBe("250 2.1.0")
      expect(delta(before, yield* counts)).toMatchObject({ accepted: 0, rejected: 1 })
    }).pipe(Effect.provide(Sink.layer))
  )
})

describe("DATA begun inline, on TestClock", () => {
  it.effect("a silent body gets 421 4.4.2 data too slow when the grace is over, not at the idle timeout", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ minDataRate: 500, dataRateGrace: "30 seconds" }))
      yield* hangUpAtEnd(client)
      yield* openData(client)
      yield* TestClock.adjust("29 seconds")
      expect(yield* client.isClosed).toBe(false)
      yield* TestClock.adjust("2 seconds")
      yield* now(client.awaitClose)
      expect(yield* client.output).toMatch(/354 [^\r\n]*\r\n421 4\.4\.2 [^\r\n]*data too slow[^\r\n]*\r\n$/)
    }).pipe(Effect.provide(Sink.layer))
  )

  // once behind the rate, a read may not wait at all: a byte per 0.9 s used to buy a second each
  for (const [name, handler] of [
    ["Sink (inline)", Sink.layer],
    ["a data hook (the fiber)", MessageHandler.layer({ data: (_, message) => Stream.runDrain(message.body) })]
  ] as const) {
    it.effect(`a byte every 0.9 s after the grace is cut off at once: ${name}`, () =>
      Effect.gen(function* () {
        const client = yield* greeted(yield* SmtpTest.server({ minDataRate: 500, dataRateGrace: "30 seconds" }))
        yield* hangUpAtEnd(client)
        yield* openData(client)
        yield* TestClock.adjust("29500 millis")
        let ms = 29_500
        while (ms < 120_000 && !(yield* client.isClosed)) {
          yield* client.send("x")
          yield* TestClock.adjust("900 millis")
          ms += 900
        }
        expect(ms).toBeLessThan(32_000)
        expect(yield* client.output).toMatch(/421 4\.4\.2 [^\r\n]*data too slow[^\r\n]*\r\n$/)
      }).pipe(Effect.provide(handler))
    )
  }
})

describe("handing over to the fiber", () => {
  it.effect("a refusing rcpt hook between inline MAIL and inline DATA: each hook called once, replies in order", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const handler = MessageHandler.layer({
        rcpt: (_, recipient) =>
          Effect.suspend(() => {
            seen.push(recipient.address)
            return recipient.address === "nobody@example.com"
              ? Effect.fail(new SmtpError.MailboxNotFound())
              : Effect.void
          })
      })
      const client = yield* greeted(yield* SmtpTest.server().pipe(Effect.provide(handler)))
      yield* client.send(
        "MAIL FROM:<a@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
      )
      expect(codes(yield* now(client.replies(4)))).toEqual(["250 2.1.0", "550 5.1.1", "250 2.1.5", "354"])
      yield* client.send("hello\r\n.\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRSET\r\n")
      expect(codes(yield* now(client.replies(4)))).toEqual(["250 2.0.0", "250 2.1.0", "550 5.1.1", "250 2.0.0"])
      expect(code(yield* now(command(client, "NOOP")))).toBe("250 2.0.0")
      expect(code(yield* now(command(client, "QUIT")))).toBe("221 2.0.0")
      yield* client.awaitClose
      expect(seen).toEqual(["nobody@example.com", "b@example.com", "nobody@example.com"])
    })
  )

  it.effect("a slow error still waits errorDelay, is counted once, and inline answers resume after it", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ slowErrorsAfter: 1, maxErrors: 4 }))
      expect(code(yield* now(command(client, "FOO")))).toBe("500 5.5.2")
      for (let i = 2; i <= 3; i++) {
        expect(code(yield* delayedReply(client, "FOO"))).toBe("500 5.5.2")
        expect(code(yield* now(command(client, "NOOP")))).toBe("250 2.0.0")
      }
      // the 4th error, not an earlier one: a slow error put back and taken again counts once
      expect(code(yield* now(command(client, "FOO")))).toBe("421 4.7.0")
      yield* client.awaitClose
    }).pipe(Effect.provide(Sink.layer))
  )
})

describe("shutdown", () => {
  it.live("a DATA begun inline is busy, not idle: it finishes its message, then gets 421 4.3.2", () =>
    Effect.gen(function* () {
      const before = yield* counts
      const scope = yield* Scope.make()
      const server = yield* SmtpTest.server({ shutdownGrace: "5 seconds" }).pipe(
        Effect.provide(Sink.layer),
        Scope.provide(scope)
      )
      const idle = yield* server.connect
      yield* idle.reply
      const busy = yield* greeted(server)
      yield* openData(busy)
      yield* busy.send("first part\r\n")
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      expect(codes([yield* idle.reply])).toEqual(["421"])
      yield* idle.awaitClose
      yield* Effect.sleep("200 millis")
      expect(yield* busy.isClosed).toBe(false)
      expect(yield* busy.output).not.toContain("421")
      yield* busy.send("second part\r\n.\r\n")
      // both at once: the 421 does not wait for the grace period to run out
      const replies = yield* Effect.timeoutOrElse(busy.replies(2), {
        duration: "1 second",
        orElse: () => Effect.fail("late")
      })
      expect(codes(replies)).toEqual(["250 2.0.0", "421 4.3.2"])
      yield* busy.awaitClose
      yield* Fiber.join(closing)
      expect(yield* server.active).toBe(0)
      expect(delta(before, yield* counts)).toEqual({ accepted: 1, rejected: 0, bytes: 12 + 13 })
    })
  )

  it.live("a BDAT message drained inline is busy between its chunks too: the last chunk, then 421 4.3.2", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* SmtpTest.server({ shutdownGrace: "5 seconds" }).pipe(
        Effect.provide(Sink.layer),
        Scope.provide(scope)
      )
      const busy = yield* greeted(server)
      expect(codes([yield* command(busy, "MAIL FROM:<a@example.com>")])).toEqual(["250 2.1.0"])
      expect(codes([yield* command(busy, "RCPT TO:<b@example.com>")])).toEqual(["250 2.1.5"])
      yield* busy.send("BDAT 5\r\nfirst")
      expect(codes([yield* busy.reply])).toEqual(["250 2.0.0"])
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Effect.sleep("200 millis")
      expect(yield* busy.isClosed).toBe(false)
      yield* busy.send("BDAT 4 LAST\r\nlast")
      const replies = yield* Effect.timeoutOrElse(busy.replies(2), {
        duration: "1 second",
        orElse: () => Effect.fail("late")
      })
      expect(codes(replies)).toEqual(["250 2.0.0", "421 4.3.2"])
      yield* busy.awaitClose
      yield* Fiber.join(closing)
    })
  )
})
