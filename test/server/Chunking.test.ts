// CHUNKING (RFC 3030): BDAT chunks are counted bytes, never lines; each chunk gets its reply,
// the last one the message's; refusals drop the chunk unread. Run with a handler that reads the
// body (Recording, in the session's fiber) and with one that does not (drained inline).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as ServerConfig from "../../src/server/ServerConfig.js"
import { SmtpTest } from "../../src/testing/index.js"
import type { TestClient } from "../../src/testing/TestTransport.js"
import { now } from "../utils/clock.js"
import { code, command, greeted } from "../utils/conversation.js"
import { text as latin1 } from "../utils/server.js"

const envelope = (client: TestClient, recipients = ["b@example.com"]) =>
  Effect.gen(function* () {
    expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
    for (const to of recipients) expect(code(yield* command(client, `RCPT TO:<${to}>`))).toBe("250 2.1.5")
  })

const bdat = (content: string, last = false) =>
  `BDAT ${Buffer.byteLength(content, "latin1")}${last ? " LAST" : ""}\r\n${content}`

const replies = (client: TestClient, n: number) => Effect.map(now(client.replies(n)), (all) => all.map(code))

// a handler with no `data` hook: the server drains the message inline, as the Sink's
const draining = MessageHandler.layer({})

describe("CHUNKING (RFC 3030)", () => {
  it.effect("EHLO offers CHUNKING, BINARYMIME and DSN; chunking: false takes CHUNKING and BINARYMIME away", () =>
    Effect.gen(function* () {
      const offered = yield* SmtpTest.server()
      const client = yield* offered.connect
      yield* client.reply
      const ehlo = yield* command(client, "EHLO c.test")
      expect(ehlo.lines).toEqual(expect.arrayContaining(["CHUNKING", "BINARYMIME", "DSN"]))
      const off = yield* (yield* SmtpTest.server({ chunking: false })).connect
      yield* off.reply
      const lines = (yield* command(off, "EHLO c.test")).lines
      expect(lines).not.toContain("CHUNKING")
      expect(lines).not.toContain("BINARYMIME")
      // not offered: refused, and the chunk still dropped unread (its QUIT is content)
      yield* envelope(off)
      yield* off.send(bdat("QUIT\r\n", true))
      expect(code(yield* now(off.reply))).toBe("502 5.5.1")
      expect(code(yield* now(command(off, "NOOP")))).toBe("250 2.0.0")
    }).pipe(Effect.provide(draining))
  )

  for (const [name, layer] of [
    ["read by the handler", Recording.layer],
    ["drained inline", Layer.merge(Recording.layer, draining)]
  ] as const) {
    const reads = name === "read by the handler"
    it.effect(`${name}: pipelined chunks, each answered; the bytes opaque; BDAT 0 LAST ends it`, () =>
      Effect.gen(function* () {
        const client = yield* greeted(yield* SmtpTest.server())
        yield* envelope(client)
        // dots, CRLF.CRLF, bare LF and CR: all content, none of it looked at
        const parts = ["Subject: x\r\n\r\n.leading dot\r\n.\r\n", "MAIL FROM:<evil@x.test>\r\n", "bare\nlf\rcr"]
        yield* client.send(parts.map((part) => bdat(part)).join("") + "BDAT 0 LAST\r\n")
        const answered = yield* replies(client, 4)
        expect(answered.slice(0, 3)).toEqual(["250 2.0.0", "250 2.0.0", "250 2.0.0"])
        expect(answered[3]).toBe("250 2.0.0")
        expect(code(yield* now(command(client, "QUIT")))).toBe("221 2.0.0")
        const deliveries = yield* Recording.deliveries
        if (!reads) return expect(deliveries).toHaveLength(0)
        expect(deliveries).toHaveLength(1)
        expect(latin1(deliveries[0]!.data)).toBe(parts.join(""))
        expect(deliveries[0]!.envelope.chunked).toBe(true)
      }).pipe(Effect.provide(layer))
    )

    it.effect(
      `${name}: the size limit counts across chunks (552 5.3.4); later chunks dropped; the session goes on`,
      () =>
        Effect.gen(function* () {
          const client = yield* greeted(yield* SmtpTest.server({ maxMessageSize: 10 }))
          yield* envelope(client)
          yield* client.send(bdat("123456") + bdat("7890ab") + bdat("QUIT\r\n", true))
          expect(yield* replies(client, 3)).toEqual(["250 2.0.0", "552 5.3.4", "552 5.3.4"])
          yield* envelope(client)
          yield* client.send(bdat("short", true))
          expect(code(yield* now(client.reply))).toBe("250 2.0.0")
          const deliveries = yield* Recording.deliveries
          expect(deliveries.map((d) => latin1(d.data))).toEqual(reads ? ["short"] : [])
        }).pipe(Effect.provide(layer))
    )

    it.effect(`${name}: RSET between chunks abandons the message; NOOP does not`, () =>
      Effect.gen(function* () {
        const client = yield* greeted(yield* SmtpTest.server())
        yield* envelope(client)
        yield* client.send(bdat("first ") + "NOOP\r\n" + bdat("second ") + "RSET\r\n")
        expect(yield* replies(client, 4)).toEqual(["250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0"])
        // the transaction is gone: a BDAT now needs MAIL again, and its chunk is dropped
        yield* client.send(bdat("QUIT\r\n", true))
        expect(code(yield* now(client.reply))).toBe("503 5.5.1")
        yield* envelope(client)
        yield* client.send(bdat("again", true))
        expect(code(yield* now(client.reply))).toBe("250 2.0.0")
        const deliveries = yield* Recording.deliveries
        expect(deliveries.map((d) => latin1(d.data))).toEqual(reads ? ["again"] : [])
      }).pipe(Effect.provide(layer))
    )

    it.effect(`${name}: DATA, MAIL and RCPT after BDAT are out of turn (503 5.5.1); the message goes on`, () =>
      Effect.gen(function* () {
        const client = yield* greeted(yield* SmtpTest.server())
        yield* envelope(client)
        yield* client.send(bdat("one "))
        expect(code(yield* now(client.reply))).toBe("250 2.0.0")
        expect(code(yield* now(command(client, "DATA")))).toBe("503 5.5.1")
        expect(code(yield* now(command(client, "RCPT TO:<c@example.com>")))).toBe("503 5.5.1")
        expect(code(yield* now(command(client, "MAIL FROM:<x@example.com>")))).toBe("503 5.5.1")
        yield* client.send(bdat("two", true))
        expect(code(yield* now(client.reply))).toBe("250 2.0.0")
        const deliveries = yield* Recording.deliveries
        expect(deliveries.map((d) => [latin1(d.data), d.rcptTos])).toEqual(
          reads ? [["one two", ["b@example.com"]]] : []
        )
      }).pipe(Effect.provide(layer))
    )

    it.effect(`${name}: a client gone in the middle of a chunk stores nothing`, () =>
      Effect.gen(function* () {
        const client = yield* greeted(yield* SmtpTest.server())
        yield* envelope(client)
        yield* client.send("BDAT 100 LAST\r\nonly part of it")
        yield* client.end
        yield* now(client.awaitClose)
        expect(yield* Recording.deliveries).toHaveLength(0)
      }).pipe(Effect.provide(layer))
    )
  }

  it.effect("BDAT before a valid RCPT: 503 5.5.1, the chunk dropped unread; a syntax error: 501 5.5.4", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server())
      yield* client.send(bdat("QUIT\r\n"))
      expect(code(yield* now(client.reply))).toBe("503 5.5.1")
      expect(code(yield* now(command(client, "MAIL FROM:<a@example.com>")))).toBe("250 2.1.0")
      yield* client.send(bdat("RSET\r\n", true))
      expect(code(yield* now(client.reply))).toBe("503 5.5.1")
      // a chunk split across writes is dropped all the same
      yield* client.send("BDAT 12\r\nNOOP\r\n")
      yield* client.send("QUIT\r\n")
      expect(code(yield* now(client.reply))).toBe("503 5.5.1")
      for (const line of ["BDAT", "BDAT x", "BDAT 5 NOTLAST", "BDAT -1", "BDAT 1234567890123456"]) {
        expect(code(yield* now(command(client, line)))).toBe("501 5.5.4")
      }
      expect(code(yield* now(command(client, "NOOP")))).toBe("250 2.0.0")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("BDAT 9999999999 is counted, never held: past the limit its bytes are dropped as they come", () =>
    Effect.gen(function* () {
      // (the test ends mid-message: no grace period for it at the end)
      const client = yield* greeted(yield* SmtpTest.server({ maxMessageSize: 1000, shutdownGrace: 0 }))
      yield* envelope(client)
      yield* client.send("BDAT 9999999999 LAST\r\n")
      const block = "x".repeat(65536)
      for (let i = 0; i < 64; i++) yield* client.send(block)
      // 4 MiB sent, the server still reading the chunk: no reply yet, nothing kept
      expect(yield* client.isClosed).toBe(false)
      expect(yield* Recording.deliveries).toHaveLength(0)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("BODY=BINARYMIME: DATA is refused (503 5.5.1), BDAT takes the binary content as it is", () =>
    Effect.gen(function* () {
      const client = yield* greeted(yield* SmtpTest.server())
      expect(code(yield* now(command(client, "MAIL FROM:<a@example.com> BODY=BINARYMIME")))).toBe("250 2.1.0")
      expect(code(yield* now(command(client, "RCPT TO:<b@example.com>")))).toBe("250 2.1.5")
      expect(code(yield* now(command(client, "DATA")))).toBe("503 5.5.1")
      const binary = new Uint8Array(256).map((_, i) => i)
      yield* client.send(new Uint8Array([...new TextEncoder().encode("BDAT 256 LAST\r\n"), ...binary]))
      expect(code(yield* now(client.reply))).toBe("250 2.0.0")
      const [delivery] = yield* Recording.deliveries
      expect(delivery!.data).toEqual(binary)
      expect(delivery!.envelope.mailOptions.body).toBe("BINARYMIME")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("BDAT after HELO is not offered: 502 5.5.1, the chunk dropped as it comes", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const client = yield* server.connect
      yield* client.reply
      expect(code(yield* command(client, "HELO c.test"))).toBe("250")
      // (sent ahead after HELO, the chunk would be pipelining out of turn: 554 and close)
      expect((yield* now(command(client, "BDAT 6 LAST"))).code).toBe(502)
      yield* client.send("QUIT\r\n")
      expect((yield* now(command(client, "NOOP"))).code).toBe(250)
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("the options are checked: chunking off when decodeData is on", () =>
    Effect.gen(function* () {
      const config = yield* ServerConfig.make({ decodeData: true })
      expect(config.protocol.chunking).toBe(false)
    })
  )
})
