import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Authenticator from "../../src/auth/Authenticator.js"
import * as Message from "../../src/handler/Message.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { SmtpTest, type TestTransport } from "../../src/testing/index.js"

const codes = (replies: ReadonlyArray<Reply.Reply>) =>
  replies.map((r) => `${r.code}${r.enhanced ? ` ${r.enhanced}` : ""}`)
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

// EHLO and its reply, then the envelope in one write: a client may pipeline only after EHLO,
// and DATA ends the group (RFC 2920 §3.1), so the body waits for 354. The four replies.
const transaction = (client: TestTransport.TestClient) =>
  Effect.gen(function* () {
    const ehlo = yield* SmtpTest.command(client, "EHLO client.test")
    yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    return [ehlo, ...(yield* client.replies(3))]
  })

describe("Connection", () => {
  it.effect("greets, runs a transaction and stores the exact bytes", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const client = yield* server.connect
      const greeting = yield* client.reply
      expect(Reply.encode(greeting, false)).toBe("220 test.invalid ESMTP effect-smtpd\r\n")
      expect(codes(yield* transaction(client))).toEqual(["250", "250 2.1.0", "250 2.1.5", "354"])
      yield* client.send("Subject: x\r\n\r\n..dot\r\n\xff\r\n.\r\nQUIT\r\n")
      expect(codes(yield* client.replies(2))).toEqual(["250 2.0.0", "221 2.0.0"])
      yield* client.awaitClose
      const [delivery] = yield* Recording.deliveries
      assert(delivery !== undefined)
      expect(text(delivery.data)).toBe("Subject: x\r\n\r\n.dot\r\n\xff\r\n")
      expect(delivery.rcptTos).toEqual(["b@example.com"])
      expect(delivery.helo).toBe("client.test")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("answers a pipelined batch in one write, in order", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const client = yield* server.connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO c")
      const before = yield* client.writes
      // NOOP ends a group (RFC 2920 §3.1): last in the batch, it may be pipelined
      yield* client.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<bad>\r\nFOO\r\nNOOP\r\n")
      expect(codes(yield* client.replies(5))).toEqual(["250 2.1.0", "250 2.1.5", "501 5.1.3", "500 5.5.2", "250 2.0.0"])
      expect((yield* client.writes) - before).toBe(1)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("reads verbs and mechanisms in ASCII: a dotless ı makes no QUIT and no PLAIN", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ authInsecure: true })
      const client = yield* server.connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO c")
      expect(codes([yield* SmtpTest.command(client, "quıt")])).toEqual(["500 5.5.2"])
      expect(codes([yield* SmtpTest.command(client, "AUTH plaın")])).toEqual(["504 5.5.4"])
      expect(yield* client.isClosed).toBe(false)
      expect(codes([yield* SmtpTest.command(client, "quit")])).toEqual(["221 2.0.0"])
    }).pipe(Effect.provide(Authenticator.fromUsers({ alice: "secret" })), Effect.provide(Recording.layer))
  )

  it.effect("sends no enhanced codes to a HELO client", () =>
    Effect.gen(function* () {
      const client = yield* (yield* SmtpTest.server()).connect
      yield* client.reply
      // a HELO client may not pipeline: one command at a time
      yield* SmtpTest.command(client, "HELO c")
      expect(codes([yield* SmtpTest.command(client, "MAIL FROM:<a@x.test>")])).toEqual(["250"])
      expect(yield* client.output).toContain("\r\n250 Ok\r\n")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("maps handler errors to their replies, and failures or defects to 451 without their text", () =>
    Effect.gen(function* () {
      const handler = MessageHandler.layer({
        mail: (_, from) =>
          from === "spam@x.test" ? Effect.fail(new SmtpError.BadSender({ text: "go away" })) : Effect.void,
        rcpt: (_, r) =>
          r.address === "nobody@x.test"
            ? Effect.fail(new SmtpError.MailboxNotFound())
            : r.address === "crash@x.test"
              ? Effect.die(new Error("secret internals"))
              : Effect.void,
        data: () => Effect.fail(new SmtpError.Custom({ code: 554, enhanced: "5.7.1", text: "Spam" }))
      })
      const client = yield* (yield* SmtpTest.server().pipe(Effect.provide(handler))).connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO c")
      yield* client.send(
        "MAIL FROM:<spam@x.test>\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<nobody@x.test>\r\nRCPT TO:<crash@x.test>\r\nRCPT TO:<ok@x.test>\r\nDATA\r\n"
      )
      const replies = yield* client.replies(6)
      expect(codes(replies)).toEqual(["501 5.1.7", "250 2.1.0", "550 5.1.1", "451 4.3.0", "250 2.1.5", "354"])
      expect(replies[0]!.lines).toEqual(["go away"])
      yield* client.send("hi\r\n.\r\n")
      expect(codes([yield* client.reply])).toEqual(["554 5.7.1"])
      expect(yield* client.output).not.toContain("secret")
    })
  )

  it.effect("a handler's own reply replaces 250", () =>
    Effect.gen(function* () {
      const handler = MessageHandler.layer({
        data: (_, m) => Effect.as(Stream.runDrain(m.body), Reply.make(250, "2.6.0", "queued as 42"))
      })
      const client = yield* (yield* SmtpTest.server().pipe(Effect.provide(handler))).connect
      yield* client.reply
      yield* transaction(client)
      yield* client.send("x\r\n.\r\n")
      expect(Reply.encode(yield* client.reply, true)).toBe("250 2.6.0 queued as 42\r\n")
    })
  )

  it.effect("an oversized body gets 552 5.3.4, the handler's stream fails, and the session goes on", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const handler = MessageHandler.layer({
        data: (_, m) => Stream.runDrain(m.body).pipe(Effect.tapError((e) => Effect.sync(() => seen.push(e._tag))))
      })
      const client = yield* (yield* SmtpTest.server({ maxMessageSize: 100 }).pipe(Effect.provide(handler))).connect
      yield* client.reply
      yield* transaction(client)
      yield* client.send("x".repeat(200) + "\r\n.\r\n")
      expect(codes([yield* client.reply])).toEqual(["552 5.3.4"])
      expect(seen).toEqual(["MessageTooBig"])
      yield* client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
      expect(codes(yield* client.replies(3))).toEqual(["250 2.1.0", "250 2.1.5", "354"])
      yield* client.send("small\r\n.\r\n")
      expect(codes([yield* client.reply])).toEqual(["250 2.0.0"])
    })
  )

  it.effect("rejects bare line endings with 550 5.6.11 when asked to", () =>
    Effect.gen(function* () {
      const client = yield* (yield* SmtpTest.server({ bareLineEndings: "reject" })).connect
      yield* client.reply
      yield* transaction(client)
      yield* client.send("a\nb\r\n.\r\n")
      expect(codes([yield* client.reply])).toEqual(["550 5.6.11"])
      expect(yield* Recording.deliveries).toHaveLength(0)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect(
    "a small message's bytes are read whole, as its stream reads them; a copy with another body reads that",
    () =>
      Effect.gen(function* () {
        const seen: Array<string> = []
        const handler = MessageHandler.layer({
          data: (_, m) =>
            Effect.gen(function* () {
              seen.push(`offers whole: ${Message.whole in m}`)
              const copy: Message.Message = { ...m, body: Stream.make(new TextEncoder().encode("other")) }
              seen.push(text(yield* Message.bytes(copy)))
              seen.push(text(yield* Message.bytes(m)))
              // consumed, as a stream read to its end is
              seen.push(`again: ${(yield* Message.bytes(m)).length}`)
            })
        })
        const client = yield* (yield* SmtpTest.server().pipe(Effect.provide(handler))).connect
        yield* client.reply
        expect(codes(yield* transaction(client)).at(-1)).toBe("354")
        yield* client.send("Subject: x\r\n\r\n..dot\r\n\xff\r\n.\r\n")
        expect(codes([yield* client.reply])).toEqual(["250 2.0.0"])
        expect(seen).toEqual(["offers whole: true", "other", "Subject: x\r\n\r\n.dot\r\n\xff\r\n", "again: 0"])
      })
  )

  it.effect("a client that disconnects mid-DATA fails the handler's stream and nothing is stored", () =>
    Effect.gen(function* () {
      const failures: Array<string> = []
      const handler = MessageHandler.layer({
        data: (_, m) =>
          Message.bytes(m).pipe(
            Effect.asVoid,
            Effect.tapError((e) => Effect.sync(() => failures.push(e._tag)))
          )
      })
      const client = yield* (yield* SmtpTest.server().pipe(Effect.provide(handler))).connect
      yield* client.reply
      expect(codes(yield* transaction(client)).at(-1)).toBe("354")
      yield* client.send("partial body\r\n")
      yield* client.end
      yield* client.awaitClose
      expect(failures).toEqual(["ClientDisconnected"])
      expect(yield* client.output).not.toContain("250 2.0.0")
    })
  )

  it.effect("closes an idle session after the timeout with 421 4.4.2", () =>
    Effect.gen(function* () {
      const client = yield* (yield* SmtpTest.server({ idleTimeout: "300 seconds" })).connect
      yield* client.reply
      yield* TestClock.adjust("299 seconds")
      expect(yield* client.isClosed).toBe(false)
      yield* TestClock.adjust("2 seconds")
      expect(codes([yield* client.reply])).toEqual(["421"]) // no EHLO yet: no enhanced code
      yield* client.awaitClose
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("answers 421 4.7.0 and closes after too many errors", () =>
    Effect.gen(function* () {
      const client = yield* (yield* SmtpTest.server({ maxErrors: 3 })).connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO c")
      yield* client.send("FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n")
      expect(codes(yield* client.replies(3))).toEqual(["500 5.5.2", "500 5.5.2", "421 4.7.0"])
      yield* client.awaitClose
      // the NOOP behind the third error is never answered
      expect(yield* client.output).not.toContain("250 2.0.0")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("answers commands sent out of turn 554 5.5.0 and closes, unless forbidUnauthPipelining is off", () =>
    Effect.gen(function* () {
      // a command sent before EHLO's reply: only an EHLO client may pipeline, and EHLO ends a group
      const beforeEhlo = (server: SmtpTest.TestServer) =>
        Effect.gen(function* () {
          const client = yield* server.connect
          yield* client.reply
          yield* client.send("EHLO x\r\nMAIL FROM:<a@b>\r\n")
          return client
        })
      // SMTP smuggling's shape: the body sent together with DATA, before the 354
      const dataWithBody = (server: SmtpTest.TestServer) =>
        Effect.gen(function* () {
          const client = yield* server.connect
          yield* client.reply
          yield* SmtpTest.command(client, "EHLO x")
          yield* client.send("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
          yield* client.replies(2)
          yield* client.send("DATA\r\nbody\r\n.\r\n")
          return client
        })
      // an early talker: its command was written before the greeting
      const earlyTalker = (server: SmtpTest.TestServer) =>
        Effect.gen(function* () {
          const client = yield* server.connect
          yield* client.send("EHLO x\r\n")
          return client
        })

      const strict = yield* SmtpTest.server()
      const first = yield* beforeEhlo(strict)
      yield* first.awaitClose
      // before EHLO no enhanced codes are sent
      expect(yield* first.output).toBe(
        "220 test.invalid ESMTP effect-smtpd\r\n554 Protocol error: talking out of turn\r\n"
      )
      const smuggler = yield* dataWithBody(strict)
      expect(codes([yield* smuggler.reply])).toEqual(["554 5.5.0"])
      yield* smuggler.awaitClose
      expect(yield* smuggler.output).not.toContain("354")
      const early = yield* earlyTalker(strict)
      expect(codes([yield* early.reply])).toEqual(["554"])
      yield* early.awaitClose
      expect(yield* Recording.deliveries).toHaveLength(0)

      const lax = yield* SmtpTest.server({ forbidUnauthPipelining: false })
      const pipelined = yield* beforeEhlo(lax)
      expect(codes(yield* pipelined.replies(2))).toEqual(["250", "250 2.1.0"])
      expect(yield* pipelined.isClosed).toBe(false)
      const body = yield* dataWithBody(lax)
      expect(codes(yield* body.replies(2))).toEqual(["354", "250 2.0.0"])
      const talker = yield* earlyTalker(lax)
      expect(codes(yield* talker.replies(2))).toEqual(["220", "250"])
      const [delivery, ...others] = yield* Recording.deliveries
      expect(others).toEqual([])
      expect(text(delivery!.data)).toBe("body\r\n")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("serves user commands, which may override built-in ones", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({
        commands: {
          xclient: (session, argument) =>
            Effect.succeed(Reply.make(250, "2.0.0", `hello ${argument} from ${session.peer.address}`)),
          VRFY: () => Effect.fail(new SmtpError.Custom({ code: 550, enhanced: "5.7.1", text: "no VRFY here" }))
        }
      })
      const client = yield* server.connect
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO c")
      // VRFY ends a group (RFC 2920 §3.1), so HELP waits for its reply
      yield* client.send("XCLIENT there\r\nVRFY root\r\n")
      const replies = yield* client.replies(2)
      expect(replies[0]!.lines).toEqual(["hello there from 127.0.0.1"])
      expect(codes([replies[1]!])).toEqual(["550 5.7.1"])
      expect((yield* SmtpTest.command(client, "HELP")).lines[0]).toContain("XCLIENT")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect(
    "calls reset once for each transaction that ends: DATA, RSET, EHLO, a refused MAIL, and a dropped client",
    () =>
      Effect.gen(function* () {
        const events: Array<string> = []
        const handler = MessageHandler.layer({
          mail: (_, from) =>
            from === "refused@x.test"
              ? Effect.fail(new SmtpError.BadSender({}))
              : Effect.sync(() => events.push("mail")),
          data: (_, message) =>
            Effect.andThen(
              Stream.runDrain(message.body),
              Effect.sync(() => void events.push("data"))
            ),
          reset: (session) => Effect.sync(() => events.push(`reset ${session.envelope === undefined}`))
        })
        const server = yield* Effect.provide(SmtpTest.server(), handler)
        const client = yield* server.connect
        yield* client.reply
        yield* transaction(client)
        yield* client.send("x\r\n.\r\n")
        yield* client.reply
        yield* client.send("MAIL FROM:<a@x.test>\r\nRSET\r\nMAIL FROM:<refused@x.test>\r\nRSET\r\n")
        yield* client.replies(4)
        // EHLO ends a group (RFC 2920 §3.1)
        yield* client.send("MAIL FROM:<a@x.test>\r\nEHLO again\r\n")
        yield* client.replies(2)
        yield* SmtpTest.command(client, "MAIL FROM:<a@x.test>")
        expect(events).toEqual(["mail", "data", "reset true", "mail", "reset true", "mail", "reset true", "mail"])
        yield* client.end
        yield* client.awaitClose
        expect(events.at(-1)).toBe("reset false")
        expect(events).toHaveLength(9)
      })
  )

  it.effect("refuses decodeData together with smtpUtf8", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(ServerConfig.make({ decodeData: true, smtpUtf8: true }))
      assert(Exit.isFailure(exit))
      const ok = yield* ServerConfig.make({ decodeData: true })
      expect(ok.protocol.eightBitMime).toBe(false)
    })
  )
})

describe("shutdown", () => {
  it.live("tells idle sessions 421 4.3.2 and lets a message in progress finish", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* SmtpTest.server({ shutdownGrace: "5 seconds" }).pipe(
        Effect.provide(Recording.layer),
        Scope.provide(scope)
      )
      const idle = yield* server.connect
      const busy = yield* server.connect
      yield* idle.reply
      yield* busy.reply
      yield* transaction(busy)
      yield* busy.send("first part\r\n")
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      expect(codes([yield* idle.reply])).toEqual(["421"])
      yield* idle.awaitClose
      expect(yield* busy.isClosed).toBe(false)
      yield* busy.send("second part\r\n.\r\n")
      expect(codes(yield* busy.replies(2))).toEqual(["250 2.0.0", "421 4.3.2"])
      yield* Fiber.join(closing)
      expect(yield* server.active).toBe(0)
    })
  )
})
