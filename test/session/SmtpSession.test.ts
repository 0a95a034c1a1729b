// SmtpSession.run: a whole conversation over an in-memory byte stream, as the server holds it
// (Equivalence.test.ts checks it against the server's engine on random sessions).
import { assert, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, References, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Authenticator from "../../src/auth/Authenticator.js"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import * as SmtpSession from "../../src/session/SmtpSession.js"
import { codes, connect, transcript, writes } from "./client.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const code = (reply: Reply.Reply) => `${reply.code}${reply.enhanced === undefined ? "" : ` ${reply.enhanced}`}`
const b64 = (value: string) => Buffer.from(value).toString("base64")
const quiet = Effect.provideService(References.MinimumLogLevel, "None")

// one command a chunk, as a client that waits for each reply sends them
const envelope = ["EHLO c\r\n", "MAIL FROM:<a@x.test>\r\n", "RCPT TO:<b@x.test>\r\n", "DATA\r\n"]

// a handler that keeps what it was told: the sessions it saw, the bodies or their failures
const watching = () => {
  const seen: Array<SessionInfo> = []
  const events: Array<string> = []
  const layer = MessageHandler.layer({
    mail: (session) => Effect.sync(() => void seen.push(session)),
    data: (_, message) =>
      Message.text(message).pipe(
        Effect.tap((body) => Effect.sync(() => events.push(`body ${JSON.stringify(body)}`))),
        Effect.tapError((error) => Effect.sync(() => events.push(`failed ${error._tag}`))),
        Effect.asVoid
      ),
    reset: (session) => Effect.sync(() => void events.push(`reset ${session.envelope === undefined}`))
  })
  return { seen, events, layer }
}

describe("SmtpSession.run", () => {
  it.effect("holds a whole session and hands the message over, dot-unstuffed", () =>
    Effect.gen(function* () {
      const out = yield* transcript([
        "EHLO client.test\r\n",
        "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
        "Subject: x\r\n\r\n..dot\r\n.\r\n",
        "QUIT\r\n"
      ])
      expect(codes(out)).toEqual(["220", "250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"])
      expect(out.startsWith("220 localhost ESMTP effect-smtpd\r\n")).toBe(true)
      const [delivery] = yield* Recording.deliveries
      assert(delivery !== undefined)
      expect(text(delivery.data)).toBe("Subject: x\r\n\r\n.dot\r\n")
      expect(delivery.helo).toBe("client.test")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("a message kept past its hook keeps its envelope; its body, over, is an empty stream", () => {
    const kept: Array<Message.Message> = []
    return Effect.gen(function* () {
      const message = "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"
      const out = yield* transcript(["EHLO c\r\n", message, "body\r\n.\r\n", "QUIT\r\n"])
      expect(codes(out)).toEqual(["220", "250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"])
      expect(kept.map((m) => m.envelope.recipients.map((r) => r.address))).toEqual([["b@x.test"]])
      expect(yield* Message.text(kept[0]!)).toBe("")
    }).pipe(Effect.provide(MessageHandler.layer({ data: (_, message) => Effect.sync(() => void kept.push(message)) })))
  })

  it.effect("answers each chunk of input in one write (RFC 2920 §3.2)", () =>
    Effect.gen(function* () {
      const out = yield* writes(["EHLO c\r\n", "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nNOOP\r\n", "QUIT\r\n"])
      expect(out.map(codes)).toEqual([["220"], ["250"], ["250 2.1.0", "250 2.1.5", "250 2.0.0"], ["221 2.0.0"]])
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("ends at the end of the input, reading nothing after QUIT", () =>
    Effect.gen(function* () {
      expect(codes(yield* transcript(["EHLO c\r\n"]))).toEqual(["220", "250"])
      expect(codes(yield* transcript(["EHLO c\r\n", "QUIT\r\n", "NOOP\r\n"]))).toEqual(["220", "250", "221 2.0.0"])
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("hands the body over as it comes, reading no further than the handler asks", () =>
    Effect.gen(function* () {
      const first = yield* Deferred.make<string>()
      const proceed = yield* Deferred.make<void>()
      const slices: Array<string> = []
      const handler = MessageHandler.layer({
        data: (_, message) =>
          Stream.runForEach(message.body, (bytes) =>
            Effect.gen(function* () {
              slices.push(text(bytes))
              yield* Deferred.succeed(first, text(bytes))
              yield* Deferred.await(proceed)
            })
          )
      })
      const client = yield* connect().pipe(Effect.provide(handler))
      yield* client.reply
      for (const line of envelope) yield* client.send(line)
      expect((yield* Effect.replicateEffect(client.reply, 4)).map(code)).toEqual([
        "250",
        "250 2.1.0",
        "250 2.1.5",
        "354"
      ])
      yield* client.send("part one\r\n")
      expect(yield* Deferred.await(first)).toBe("part one\r\n")
      yield* client.send("part two\r\n")
      yield* client.send(".\r\n")
      // the handler has not asked for more: both chunks wait in the input
      expect(yield* client.unread).toBe(2)
      yield* Deferred.succeed(proceed, undefined)
      expect(code(yield* client.reply)).toBe("250 2.0.0")
      expect(slices).toEqual(["part one\r\n", "part two\r\n"])
    })
  )

  it.effect(
    "a message over maxMessageSize: 552 5.3.4 once it is drained, its stream fails, the session goes on",
    () => {
      const { events, layer } = watching()
      return Effect.gen(function* () {
        const out = yield* transcript([...envelope, "0123456789\r\n0123456789\r\n.\r\n", "NOOP\r\n"], {
          maxMessageSize: 15
        })
        expect(codes(out).slice(-2)).toEqual(["552 5.3.4", "250 2.0.0"])
        expect(events).toEqual(["failed MessageTooBig", "reset true"])
      }).pipe(Effect.provide(layer))
    }
  )

  it.effect("bare line endings: rejected with 550 5.6.11 after the whole message, or normalized to CRLF", () => {
    const { events, layer } = watching()
    return Effect.gen(function* () {
      const body = "a\nb\r\n.\r\n"
      const rejected = yield* transcript([...envelope, body, "NOOP\r\n"], { bareLineEndings: "reject" })
      expect(codes(rejected).slice(-2)).toEqual(["550 5.6.11", "250 2.0.0"])
      const normalized = yield* transcript([...envelope, body], { bareLineEndings: "normalize" })
      expect(codes(normalized).slice(-1)).toEqual(["250 2.0.0"])
      expect(events).toEqual(["failed BareLineEnding", "reset true", 'body "a\\r\\nb\\r\\n"', "reset true"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("ends DATA only at CRLF.CRLF: LF.LF and a command behind it are content (smuggling)", () =>
    Effect.gen(function* () {
      const out = yield* transcript([...envelope, "x\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n"], {
        bareLineEndings: "pass"
      })
      expect(codes(out).slice(-2)).toEqual(["354", "250 2.0.0"])
      const [delivery] = yield* Recording.deliveries
      // (a leading dot is removed after a bare LF too: RFC 5321 §4.5.2 reads lines)
      expect(text(delivery!.data)).toBe("x\n\nMAIL FROM:<evil@x.test>\r\n")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("closes with 421 4.7.0 at maxErrors, and 554 5.5.0 on commands pipelined out of turn", () =>
    Effect.gen(function* () {
      const errors = yield* transcript(["EHLO c\r\n", "FOO\r\n", "BAR\r\n", "NOOP\r\n"], { maxErrors: 2 })
      expect(codes(errors)).toEqual(["220", "250", "500 5.5.2", "421 4.7.0"])
      const early = yield* transcript(["HELO c\r\n", "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"])
      // (no enhanced codes after HELO)
      expect(codes(early)).toEqual(["220", "250", "554"])
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("AUTH with the Authenticator: the SASL exchange, and handlers see the identity", () => {
    const { layer, seen } = watching()
    return Effect.gen(function* () {
      const out = yield* transcript(
        ["EHLO c\r\n", "AUTH LOGIN\r\n", `${b64("alice")}\r\n`, `${b64("secret")}\r\n`, "MAIL FROM:<a@x.test>\r\n"],
        { authInsecure: true }
      )
      expect(out).toContain("250-AUTH PLAIN LOGIN CRAM-MD5\r\n")
      expect(codes(out).slice(2)).toEqual(["334", "334", "235 2.7.0", "250 2.1.0"])
      expect(seen[0]!.auth).toBe("alice")
    }).pipe(Effect.provide(Layer.merge(layer, Authenticator.fromUsers({ alice: "secret" }))))
  })

  it.effect("AUTH: a wrong password waits authFailureDelay for its 535; without an Authenticator, 502", () =>
    Effect.gen(function* () {
      const client = yield* connect({ authInsecure: true }).pipe(
        Effect.provide(Authenticator.fromUsers({ alice: "secret" }))
      )
      yield* client.reply
      yield* client.command("EHLO c")
      yield* client.send(`AUTH PLAIN ${b64("\0alice\0wrong")}\r\n`)
      const reply = yield* Effect.forkChild(client.reply)
      yield* TestClock.adjust("999 millis")
      expect(reply.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      expect(code(yield* Fiber.join(reply))).toBe("535 5.7.8")
      const none = yield* transcript(["EHLO c\r\n", "AUTH PLAIN\r\n"], { authInsecure: true })
      expect(none).not.toContain("AUTH PLAIN")
      expect(codes(none).slice(-1)).toEqual(["502 5.5.1"])
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("user commands come before the built-in verbs; a failure is its reply", () =>
    Effect.gen(function* () {
      const out = yield* transcript(["EHLO c\r\n", "XHELLO world\r\nnoop\r\n", "NOOP\r\n"], {
        forbidUnauthPipelining: false,
        commands: {
          XHELLO: (session, argument) => Effect.succeed(Reply.make(250, "2.0.0", `hello ${argument} on ${session.id}`)),
          NOOP: () => Effect.fail(new SmtpError.MailboxNotFound())
        },
        id: "s1"
      })
      expect(out).toContain("250 2.0.0 hello world on s1\r\n")
      expect(codes(out).slice(-2)).toEqual(["550 5.1.1", "550 5.1.1"])
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("a hook's SMTP error is its reply; a defect is 451 4.3.0", () =>
    Effect.gen(function* () {
      const out = yield* transcript(["EHLO c\r\n", "MAIL FROM:<a@x.test>\r\n", "MAIL FROM:<crash@x.test>\r\n"])
      expect(codes(out).slice(-2)).toEqual(["550 5.2.1", "451 4.3.0"])
    }).pipe(
      Effect.provide(
        MessageHandler.layer({
          mail: (_, from) => (from.startsWith("a@") ? Effect.fail(new SmtpError.MailboxUnavailable()) : Effect.die("x"))
        })
      ),
      quiet
    )
  )

  it.effect("offers no STARTTLS: 502 5.5.1, as a server without a certificate", () =>
    Effect.gen(function* () {
      const out = yield* transcript(["EHLO c\r\n", "STARTTLS\r\n", "NOOP\r\n"])
      expect(out).not.toContain("STARTTLS")
      expect(codes(out).slice(-2)).toEqual(["502 5.5.1", "250 2.0.0"])
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("command deadline: a line trickled in gets 421 4.4.2 at commandDeadline from its first byte", () =>
    Effect.gen(function* () {
      const client = yield* connect({ commandDeadline: "30 seconds" })
      yield* client.reply
      yield* client.command("EHLO c")
      const rest = yield* Effect.forkChild(client.rest)
      // silence first: the deadline starts with the line's first byte
      yield* TestClock.adjust("100 seconds")
      for (const byte of "NOOP ") {
        yield* client.send(byte)
        yield* TestClock.adjust("5 seconds")
      }
      expect(rest.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("4 seconds")
      expect(rest.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const { exit, text } = yield* Fiber.join(rest)
      expect(text).toBe("421 4.4.2 Command deadline exceeded, closing connection\r\n")
      expect(Exit.isSuccess(exit)).toBe(true)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("idle timeout: 421 4.4.2 after idleTimeout of silence, on Effect's clock", () =>
    Effect.gen(function* () {
      const client = yield* connect({ idleTimeout: "10 seconds" })
      yield* client.reply
      yield* client.command("EHLO c")
      const rest = yield* Effect.forkChild(client.rest)
      yield* TestClock.adjust("9 seconds")
      expect(rest.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const { exit, text } = yield* Fiber.join(rest)
      expect(codes(text)).toEqual(["421 4.4.2"])
      expect(Exit.isSuccess(exit)).toBe(true)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("DATA under minDataRate past its grace: 421 4.4.2, data too slow", () =>
    Effect.gen(function* () {
      const client = yield* connect({ minDataRate: 100, dataRateGrace: "5 seconds" })
      yield* client.reply
      for (const line of envelope) yield* client.send(line)
      yield* Effect.replicateEffect(client.reply, 4)
      const rest = yield* Effect.forkChild(client.rest)
      yield* TestClock.adjust("5 seconds")
      const { text } = yield* Fiber.join(rest)
      expect(text).toContain("421 4.4.2 Timeout: data too slow")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("a client gone in DATA: the body stream fails with ClientDisconnected, the transaction is reset", () => {
    const { events, layer } = watching()
    return Effect.gen(function* () {
      const out = yield* transcript([...envelope, "half a mess"])
      expect(codes(out).slice(-1)).toEqual(["354"])
      expect(events).toEqual(["failed ClientDisconnected", "reset false"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("an input that fails: the replies so far, then the input's error", () =>
    Effect.gen(function* () {
      const input = Stream.concat(Stream.succeed(new TextEncoder().encode("EHLO c\r\n")), Stream.fail("broken pipe"))
      const chunks: Array<string> = []
      const exit = yield* Effect.exit(
        Stream.runForEach(SmtpSession.run(input), (c) => Effect.sync(() => chunks.push(text(c))))
      )
      expect(codes(chunks.join(""))).toEqual(["220", "250"])
      expect(exit).toEqual(Exit.fail("broken pipe"))
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("options that do not fit together fail with ConfigError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(transcript([], { decodeData: true, smtpUtf8: true }))
      expect(error._tag).toBe("ConfigError")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("an encrypted stream: AUTH without authInsecure; handlers see the endpoints given", () => {
    const { layer, seen } = watching()
    const peer = { address: "198.51.100.7", port: 4242 }
    const local = { address: "203.0.113.1", port: 587 }
    return Effect.gen(function* () {
      const out = yield* transcript(
        ["EHLO c\r\n", `AUTH PLAIN ${b64("\0alice\0secret")}\r\n`, "MAIL FROM:<a@x.test>\r\n"],
        {
          secure: true,
          peer,
          local,
          id: "s2"
        }
      )
      expect(codes(out).slice(-2)).toEqual(["235 2.7.0", "250 2.1.0"])
      expect(seen[0]).toMatchObject({ id: "s2", peer, local, secure: true, auth: "alice" })
    }).pipe(Effect.provide(Layer.merge(layer, Authenticator.fromUsers({ alice: "secret" }))))
  })

  it.effect("reset runs after the transaction's reply, and when the session ends in the middle of one", () => {
    const { events, layer } = watching()
    return Effect.gen(function* () {
      yield* transcript([...envelope, "x\r\n.\r\n", "MAIL FROM:<a@x.test>\r\n", "QUIT\r\n"])
      expect(events).toEqual(['body "x\\r\\n"', "reset true", "reset false"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a reader that stops reading ends the session: an open transaction is reset", () => {
    const { events, layer } = watching()
    return Effect.gen(function* () {
      const sent = Stream.fromIterable(envelope.slice(0, 3).map((line) => new TextEncoder().encode(line)))
      // greeting, EHLO, MAIL and RCPT: four writes, then the reader goes
      const out = yield* Stream.runCollect(Stream.take(SmtpSession.run(Stream.concat(sent, Stream.never)), 4))
      expect(codes(out.map(text).join(""))).toEqual(["220", "250", "250 2.1.0", "250 2.1.5"])
      expect(events).toEqual(["reset false"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a connect hook refuses with its reply instead of 220, and the session ends", () =>
    Effect.gen(function* () {
      const out = yield* transcript(["EHLO c\r\n"])
      expect(codes(out)).toEqual(["421"])
    }).pipe(Effect.provide(MessageHandler.layer({ connect: () => Effect.fail(new SmtpError.ServerBusy()) })))
  )

  it.effect("the per-session form: its helo hook refuses HELO/EHLO, its scope closes at the end", () => {
    const events: Array<string> = []
    const layer = MessageHandler.layer({
      session: () =>
        Effect.as(
          Effect.addFinalizer(() => Effect.sync(() => void events.push("closed"))),
          {
            helo: (_: SessionInfo, greeting: { readonly name: string }) =>
              greeting.name === "bad" ? Effect.fail(new SmtpError.RelayDenied()) : Effect.void
          }
        )
    })
    return Effect.gen(function* () {
      const out = yield* transcript(["EHLO bad\r\n", "MAIL FROM:<a@x.test>\r\n", "EHLO good\r\n", "QUIT\r\n"])
      expect(codes(out)).toEqual(["220", "550", "503", "250", "221 2.0.0"])
      expect(events).toEqual(["closed"])
    }).pipe(Effect.provide(layer))
  })
})
