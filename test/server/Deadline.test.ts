// The command deadline on TestClock (Postfix's smtpd_per_request_deadline): a command line, a
// SASL answer or a STARTTLS handshake trickled in past it gets 421 4.4.2 and a close, however
// often bytes come; a client that completes its lines in time, or stays silent between them,
// is never cut. And the client's side: a reply trickled byte by byte fails within its timeout.
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Authenticator from "../../src/auth/Authenticator.js"
import * as Conversation from "../../src/client/Conversation.js"
import type * as Dialer from "../../src/client/Dialer.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as Sessions from "../../src/internal/Sessions.js"
import * as Transport from "../../src/internal/Transport.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import { SmtpTest } from "../../src/testing/index.js"
import * as TestTransport from "../../src/testing/TestTransport.js"
import { now } from "../utils/clock.js"
import { code, command, greeted } from "../utils/conversation.js"

const deadline = { commandDeadline: "30 seconds" } as const
const deadlineReply = /421 4\.4\.2 Command deadline exceeded[^\r\n]*\r\n$/

/** Sends `text` one byte every `every` seconds until it is all sent or the server closes: the seconds it took. */
const drip = (client: TestTransport.TestClient, text: string, every = 5) =>
  Effect.gen(function* () {
    let seconds = 0
    for (const byte of text) {
      if (yield* client.isClosed) break
      yield* client.send(byte)
      yield* TestClock.adjust(Duration.seconds(every))
      seconds += every
    }
    return seconds
  })

describe("the command deadline", () => {
  it.effect("one byte every 5 s of a command line: 421 4.4.2 at 30 s, and the session closes", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server(deadline))
      const before = (yield* client.output).length
      const seconds = yield* drip(client, "MAIL FROM:<slow@example.com>\r\n")
      expect(seconds).toBe(30)
      const output = yield* client.output
      expect(output.slice(before)).toMatch(/^421 4\.4\.2 Command deadline exceeded/)
      expect(yield* client.isClosed).toBe(true)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("the same from a session that has its fiber (a MAIL hook), and the default of 60 s", () =>
    Effect.gen(function* () {
      const handler = MessageHandler.layer({ mail: () => Effect.void })
      const fiber = yield* greeted(yield* SmtpTest.server(deadline).pipe(Effect.provide(handler)))
      expect(code(yield* command(fiber, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
      expect(yield* drip(fiber, "RCPT TO:<slow@example.com>\r\n")).toBe(30)
      expect(yield* fiber.output).toMatch(deadlineReply)

      const byDefault = yield* greeted(yield* SmtpTest.server().pipe(Effect.provide(Recording.layer)))
      expect(yield* drip(byDefault, "NOOP and a long argument to send slowly\r\n")).toBe(60)
      expect(yield* byDefault.output).toMatch(deadlineReply)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("a line over the length limit, skipped as it comes, has the deadline too", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server({ ...deadline, maxLineLength: 512 }))
      yield* client.send("X".repeat(600))
      expect(yield* drip(client, "Y".repeat(20))).toBe(30)
      expect(yield* client.output).toMatch(deadlineReply)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("a SASL answer trickled in: 421 4.4.2 at 30 s", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ ...deadline, authInsecure: true })
      const client = yield* greeted(server)
      expect((yield* command(client, "AUTH LOGIN")).code).toBe(334)
      expect(yield* drip(client, `${Buffer.from("alice").toString("base64")}\r\n`)).toBe(30)
      expect(yield* client.output).toMatch(deadlineReply)
      expect(yield* client.isClosed).toBe(true)
    }).pipe(Effect.provide(Layer.merge(Recording.layer, Authenticator.fromUsers({ alice: "secret" }))))
  )

  it.effect("a STARTTLS handshake that never completes: closed at the deadline", () =>
    Effect.gen(function* () {
      const config = yield* ServerConfig.make({ hostname: "test.invalid", startTls: true, ...deadline })
      const sessions = yield* Sessions.make(config, yield* MessageHandler.MessageHandler)
      const { client, transport } = yield* TestTransport.make({ startTls: true })
      const stalled: Transport.Transport = { ...transport, acceptTls: () => Effect.never }
      const session = yield* Effect.forkChild(sessions.serve(stalled))
      expect((yield* client.reply).code).toBe(220)
      expect((yield* command(client, "EHLO client.test")).code).toBe(250)
      expect((yield* command(client, "STARTTLS")).code).toBe(220)
      yield* TestClock.adjust("29 seconds")
      expect(session.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect(Exit.isExit(session.pollUnsafe())).toBe(true)
      expect(yield* client.isClosed).toBe(true)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect(
    "a client whose lines come in pieces, each within the deadline, is served; silence is the idle timeout's",
    () =>
      Effect.gen(function* () {
        const client = yield* greeted(yield* SmtpTest.server(deadline))
        // each line takes 25 s, 50 s in all: every line has its own deadline
        for (const line of ["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"]) {
          yield* client.send(line.slice(0, 4))
          yield* TestClock.adjust("25 seconds")
          expect((yield* now(command(client, line.slice(4)))).code).toBe(250)
        }
        // a pipelined line cut in two: its time counts from its first piece
        yield* client.send("RSET\r\nNO")
        expect(code(yield* now(client.reply))).toBe("250 2.0.0")
        yield* TestClock.adjust("29 seconds")
        expect(code(yield* now(command(client, "OP")))).toBe("250 2.0.0")
        yield* client.send("NO")
        yield* TestClock.adjust("30 seconds")
        expect(yield* client.output).toMatch(deadlineReply)

        // silence between lines is bounded by the idle timeout alone
        const quiet = yield* greeted(yield* SmtpTest.server(deadline))
        yield* TestClock.adjust("299 seconds")
        expect(code(yield* now(command(quiet, "NOOP")))).toBe("250 2.0.0")
        // and so is a body: DATA has its minimum rate, not the deadline
        expect(code(yield* now(command(quiet, "MAIL FROM:<a@example.com>")))).toBe("250 2.1.0")
        expect(code(yield* now(command(quiet, "RCPT TO:<b@example.com>")))).toBe("250 2.1.5")
        expect((yield* now(command(quiet, "DATA"))).code).toBe(354)
        for (let i = 0; i < 12; i++) {
          yield* quiet.send("y".repeat(5000))
          yield* TestClock.adjust("5 seconds")
        }
        expect(code(yield* now(command(quiet, "\r\n.")))).toBe("250 2.0.0")
        expect(yield* quiet.isClosed).toBe(false)
      }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("rejects a deadline of 0", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(ServerConfig.make({ commandDeadline: 0 }))
      expect(error.message).toContain("commandDeadline")
    })
  )
})

// a server that sends one byte of its reply every 5 s
const trickling = (reply: string): Dialer.ClientTransport => {
  let sent = 0
  const transport: Dialer.ClientTransport = {
    read: (timeout) =>
      Effect.sleep("5 seconds").pipe(
        Effect.as(sent < reply.length ? new TextEncoder().encode(reply[sent++]) : undefined),
        Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(new Transport.ReadTimeout()) })
      ),
    write: () => Effect.void,
    close: Effect.void,
    remote: { address: "192.0.2.25", port: 25 },
    local: { address: "192.0.2.1", port: 40000 },
    secure: false,
    startTls: () => Effect.die("no TLS here")
  }
  return transport
}

describe("the client's reply deadline", () => {
  it.effect("a reply trickled byte by byte fails within its timeout", () =>
    Effect.gen(function* () {
      const conversation = Conversation.make(trickling(`220 ${"x".repeat(100)}\r\n`))
      const read = yield* Effect.forkChild(Effect.flip(conversation.read(Duration.seconds(30))))
      yield* TestClock.adjust("29 seconds")
      expect(read.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(read)
      expect(error.reason).toBe("timeout")
    })
  )

  it.effect("a reply that comes in time, byte by byte, is read", () =>
    Effect.gen(function* () {
      const conversation = Conversation.make(trickling("250 ok\r\n"))
      const read = yield* Effect.forkChild(conversation.read(Duration.seconds(60)))
      yield* TestClock.adjust("40 seconds")
      expect((yield* Fiber.join(read)).code).toBe(250)
    })
  )
})
