// The SMTP client against fake upstreams scripted to misbehave, with short timeouts so that the
// failures come fast: each reason an upstream is unavailable, STARTTLS injection and refusal,
// pipelining or not, and a server without EHLO.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { UpstreamRefused, UpstreamUnavailable } from "../../src/client/ClientError.js"
import * as Reply from "../../src/protocol/Reply.js"
import { body, bytes, connect, elapsed, envelope, quick } from "../utils/smtpClient.js"
import { type FakePeer, fakeUpstream, freePort } from "../utils/upstreams.js"

const ehloReply = (keywords: ReadonlyArray<string>) =>
  ["fake.test", ...keywords].map((line, i, all) => `250${i === all.length - 1 ? " " : "-"}${line}\r\n`).join("")

// the greeting, and EHLO answered with these keywords
const greet = (peer: FakePeer, keywords: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    yield* peer.send("220 fake.test ESMTP\r\n")
    yield* peer.line
    yield* peer.send(ehloReply(keywords))
  })

describe("SmtpClient against failing upstreams", () => {
  it.live("nothing listening: reason connect", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const error = yield* Effect.flip(connect({ host: "127.0.0.1", port, timeouts: quick }))
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("connect")
    })
  )

  it.live("no greeting within the greeting timeout: reason timeout", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream(() => Effect.never)
      const [ms, error] = yield* elapsed(Effect.flip(connect({ host: fake.host, port: fake.port, timeouts: quick })))
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("timeout")
      expect(ms).toBeGreaterThanOrEqual(250)
      expect(ms).toBeLessThan(2000)
    })
  )

  it.live("a 554 greeting: UpstreamRefused with it, then QUIT", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) => peer.send("554 5.3.2 No service for you\r\n"))
      const error = yield* Effect.flip(connect({ host: fake.host, port: fake.port, timeouts: quick })).pipe(
        Effect.scoped
      )
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("greeting")
      expect(error.reply).toEqual(Reply.make(554, "5.3.2", "No service for you"))
      expect(yield* fake.received).toEqual(["QUIT\r\n"])
    })
  )

  it.live("replies that are not SMTP: reason protocol", () =>
    Effect.gen(function* () {
      const http = yield* fakeUpstream((peer) => peer.send("HTTP/1.1 400 Bad Request\r\n\r\n"))
      const greeting = yield* Effect.flip(connect({ host: http.host, port: http.port, timeouts: quick }))
      assert.instanceOf(greeting, UpstreamUnavailable)
      expect(greeting.reason).toBe("protocol")
      // a multi-line reply whose code changes half way
      const mixed = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* peer.send("220 fake.test ESMTP\r\n")
          yield* peer.line
          yield* peer.send("250-fake.test\r\n220 PIPELINING\r\n")
        })
      )
      const ehlo = yield* Effect.flip(connect({ host: mixed.host, port: mixed.port, timeouts: quick }))
      assert.instanceOf(ehlo, UpstreamUnavailable)
      expect(ehlo.reason).toBe("protocol")
    })
  )

  it.live("the connection closed in the middle of an endless body: reason closed, no hang", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING", "8BITMIME"])
          yield* peer.until("DATA\r\n")
          yield* peer.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n")
          yield* peer.bytes(50_000)
          yield* peer.destroy
        })
      )
      const error = yield* Effect.gen(function* () {
        const connection = yield* connect({ host: fake.host, port: fake.port, timeouts: { dataBlock: "1 minute" } })
        const endless = Stream.forever(Stream.succeed(bytes("x".repeat(8190) + "\r\n")))
        return yield* Effect.flip(connection.send(envelope("s@example.com", "to@example.com"), endless))
      }).pipe(
        Effect.scoped,
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail("hung" as const) })
      )
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("closed")
    })
  )

  it.live("the connection closed after the final dot, before the reply: reason closed", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING"])
          yield* peer.until("DATA\r\n")
          yield* peer.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n")
          yield* peer.until("\r\n.\r\n")
          yield* peer.end
        })
      )
      const error = yield* Effect.flip(
        Effect.flatMap(connect({ host: fake.host, port: fake.port, timeouts: { dataEnd: "1 minute" } }), (c) =>
          c.send(envelope("s@example.com", "to@example.com"), body("short\r\n"))
        )
      ).pipe(Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail("hung" as const) }))
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("closed")
    })
  )

  it.live("no reply to the final dot within dataEnd: reason timeout", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING"])
          yield* peer.until("DATA\r\n")
          yield* peer.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n")
          yield* peer.until("\r\n.\r\n")
          yield* Effect.never
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, timeouts: quick })
      const [ms, error] = yield* elapsed(
        Effect.flip(connection.send(envelope("s@example.com", "to@example.com"), body("unanswered\r\n")))
      )
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("timeout")
      expect(ms).toBeLessThan(2000)
    })
  )

  it.live("plaintext injected after the 220 to STARTTLS: at encrypt, reason tls and nothing more is sent", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING", "STARTTLS"])
          yield* peer.line
          // the reply to STARTTLS and a forged reply in one write, before any handshake
          yield* peer.send("220 2.0.0 Ready to start TLS\r\n250 2.0.0 injected\r\n")
          yield* Effect.never
        })
      )
      const error = yield* Effect.flip(
        connect({ host: fake.host, port: fake.port, security: "encrypt", timeouts: quick })
      ).pipe(Effect.scoped)
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("tls")
      expect(yield* fake.received).toEqual(["EHLO localhost\r\nSTARTTLS\r\n"])
      // at may the injected connection is dropped as a failed handshake: the client starts over
      // without TLS on a new connection, and sends nothing more on this one
      const plain = yield* connect({ host: fake.host, port: fake.port, timeouts: quick }).pipe(Effect.scoped)
      expect(plain.secure).toBe(false)
      const [, injected, fresh] = yield* fake.received
      expect(injected).toBe("EHLO localhost\r\nSTARTTLS\r\n")
      expect(fresh).toMatch(/^EHLO localhost\r\n/)
      expect(fresh).not.toContain("STARTTLS")
    })
  )

  it.live("STARTTLS refused with 454: opportunistic goes on in plaintext, required fails with reason tls", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["STARTTLS", "8BITMIME"])
          yield* peer.line
          yield* peer.send("454 4.7.0 TLS not available\r\n")
        })
      )
      const opportunistic = yield* connect({ host: fake.host, port: fake.port, timeouts: quick })
      expect(opportunistic.secure).toBe(false)
      expect(opportunistic.extensions.has("8BITMIME")).toBe(true)
      const required = yield* Effect.flip(
        connect({ host: fake.host, port: fake.port, startTls: "required", timeouts: quick })
      )
      assert.instanceOf(required, UpstreamUnavailable)
      expect(required.reason).toBe("tls")
    })
  )

  it.live("without PIPELINING each command waits for its reply; QUIT when the scope closes", () =>
    Effect.gen(function* () {
      // what the client had sent beyond each command by the time (50 ms later) it was answered
      const early: Array<string> = []
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["8BITMIME"])
          for (const reply of ["250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.1.1 No such user", "354 Go ahead"]) {
            yield* peer.line
            yield* Effect.sleep("50 millis")
            early.push(yield* peer.unread)
            yield* peer.send(`${reply}\r\n`)
          }
          yield* peer.until("\r\n.\r\n")
          yield* peer.send("250 2.0.0 Queued\r\n")
        })
      )
      const result = yield* Effect.gen(function* () {
        const connection = yield* connect({ host: fake.host, port: fake.port })
        return yield* connection.send(
          envelope("s@example.com", "a@example.com", "b@example.com"),
          body("Subject: one by one\r\n\r\nhi\r\n")
        )
      }).pipe(Effect.scoped)
      expect(result.reply).toEqual(Reply.make(250, "2.0.0", "Queued"))
      expect(result.accepted).toEqual(["a@example.com"])
      expect(result.refused).toEqual([{ address: "b@example.com", reply: Reply.make(550, "5.1.1", "No such user") }])
      expect(early).toEqual(["", "", "", ""])
      expect(yield* fake.received).toEqual([
        "EHLO localhost\r\nMAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n" +
          "Subject: one by one\r\n\r\nhi\r\n.\r\nQUIT\r\n"
      ])
    })
  )

  it.live("with PIPELINING the whole envelope comes before any reply", () =>
    Effect.gen(function* () {
      const envelopes: Array<string> = []
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING"])
          // had the client waited for the reply to MAIL, this would never end
          envelopes.push(yield* peer.until("DATA\r\n"))
          yield* peer.send("250 2.1.0 Ok\r\n550 5.1.1 No such user\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n")
          yield* peer.until("\r\n.\r\n")
          yield* peer.send("250 2.0.0 Queued\r\n")
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, timeouts: quick })
      const result = yield* connection.send(
        envelope("s@example.com", "a@example.com", "b@example.com"),
        body("pipelined\r\n")
      )
      expect(envelopes).toEqual([
        "MAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
      ])
      expect(result.accepted).toEqual(["b@example.com"])
      expect(result.refused).toEqual([{ address: "a@example.com", reply: Reply.make(550, "5.1.1", "No such user") }])
    })
  )

  it.live("a pipelining server that says 354 though every RCPT failed gets an empty message, not the body", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING"])
          yield* peer.until("DATA\r\n")
          yield* peer.send("250 2.1.0 Ok\r\n550 5.1.1 No such user\r\n354 Go ahead\r\n")
          yield* peer.line
          yield* peer.send("554 5.5.1 No valid recipients\r\n")
        })
      )
      const error = yield* Effect.gen(function* () {
        const connection = yield* connect({ host: fake.host, port: fake.port, timeouts: quick })
        return yield* Effect.flip(connection.send(envelope("s@example.com", "a@example.com"), body("secret body\r\n")))
      }).pipe(Effect.scoped)
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("RCPT")
      expect(error.reply).toEqual(Reply.make(550, "5.1.1", "No such user"))
      expect(yield* fake.received).toEqual([
        "EHLO localhost\r\nMAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n.\r\nQUIT\r\n"
      ])
    })
  )

  it.live("EHLO refused with 502: HELO, no extensions, and mail still goes", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* peer.send("220 old.test SMTP\r\n")
          yield* peer.line
          yield* peer.send("502 Command not implemented\r\n")
          for (const reply of ["250 old.test", "250 Ok", "250 Ok", "354 Go ahead"]) {
            yield* peer.line
            yield* peer.send(`${reply}\r\n`)
          }
          yield* peer.until("\r\n.\r\n")
          yield* peer.send("250 Ok\r\n")
        })
      )
      const result = yield* Effect.gen(function* () {
        const connection = yield* connect({
          host: fake.host,
          port: fake.port,
          heloName: "client.test",
          timeouts: quick
        })
        expect(connection.extensions.size).toBe(0)
        return yield* connection.send(envelope("s@example.com", "a@example.com"), body("old\r\n"))
      }).pipe(Effect.scoped)
      expect(result.reply.code).toBe(250)
      expect(yield* fake.received).toEqual([
        "EHLO client.test\r\nHELO client.test\r\nMAIL FROM:<s@example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n" +
          "old\r\n.\r\nQUIT\r\n"
      ])
    })
  )
})
