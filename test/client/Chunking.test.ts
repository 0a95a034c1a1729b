// The SMTP client's BDAT (RFC 3030): bodies sent as they are in bounded chunks, the last with
// LAST (BDAT 0 LAST on a chunk's edge), pipelined one chunk ahead with PIPELINING, a refused chunk,
// and BINARYMIME, which needs CHUNKING. Against scripted fakes (Postfix 3.7's smtp-sink offers no
// CHUNKING) and our own server.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { toSmtpError, UpstreamRefused, UpstreamUnsupported } from "../../src/client/ClientError.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import { text } from "../utils/server.js"
import { body, connect, eightBitMime, envelope, quick, trickyChunks } from "../utils/smtpClient.js"
import { type FakePeer, fakeUpstream } from "../utils/upstreams.js"
import { ourServer } from "./ourServer.js"

const ehloReply = (keywords: ReadonlyArray<string>) =>
  ["fake.test", ...keywords].map((line, i, all) => `250${i === all.length - 1 ? " " : "-"}${line}\r\n`).join("")

const greet = (peer: FakePeer, keywords: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    yield* peer.send("220 fake.test ESMTP\r\n")
    yield* peer.line
    yield* peer.send(ehloReply(keywords))
  })

// one BDAT command and its bytes, answered with `reply`
const chunk = (peer: FakePeer, reply = "250 2.0.0 Ok") =>
  Effect.gen(function* () {
    const line = yield* peer.line
    const [, size, last] = /^BDAT (\d+)( LAST)?$/.exec(line) ?? []
    if (size === undefined) return yield* Effect.die(new Error(`not a BDAT command: ${line}`))
    const bytes = yield* peer.bytes(Number(size))
    yield* peer.send(`${reply}\r\n`)
    return { line, bytes, last: last !== undefined }
  })

// MAIL and `recipients` RCPTs accepted, one by one (as they come, pipelined or not)
const accept = (peer: FakePeer, recipients = 1) =>
  Effect.gen(function* () {
    for (let i = 0; i <= recipients; i++) {
      yield* peer.line
      yield* peer.send(i === 0 ? "250 2.1.0 Ok\r\n" : "250 2.1.5 Ok\r\n")
    }
  })

// the envelope accepted, then chunks until LAST: each command line, and the content
const transaction = (peer: FakePeer, recipients = 1) =>
  Effect.gen(function* () {
    yield* accept(peer, recipients)
    const lines: Array<string> = []
    let content = ""
    for (;;) {
      const { bytes, last, line } = yield* chunk(peer)
      lines.push(line)
      content += bytes
      if (last) return { lines, content }
    }
  })

// 1 MiB with every byte value, CRLF.CRLF, dot lines and bare CR and LF, in uneven stream chunks
const mebibyte = (() => {
  const unit =
    "\r\n.\r\n..x\rbare CR\nbare LF\0" + Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("")
  const whole = unit.repeat(Math.ceil((1 << 20) / unit.length)).slice(0, 1 << 20)
  const pieces: Array<string> = []
  for (let at = 0, size = 1; at < whole.length; at += size, size = (size * 7 + 3) % 100_003) {
    pieces.push(whole.slice(at, at + size))
  }
  return { whole, pieces }
})()
const binaryMime = [{ keyword: "BODY", value: "BINARYMIME" }]

describe("SmtpClient with BDAT", () => {
  it.live("a body goes as it is in one BDAT LAST: dots, bare CR and LF untouched, no CRLF added", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.andThen(greet(peer, ["PIPELINING", "8BITMIME", "CHUNKING"]), transaction(peer))
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, timeouts: quick })
      const result = yield* connection.send(
        { ...envelope("s@example.com", "to@example.com"), mailParameters: eightBitMime },
        body(...trickyChunks)
      )
      expect(result.reply).toEqual(Reply.make(250, "2.0.0", "Ok"))
      const content = trickyChunks.join("")
      expect((yield* fake.received)[0]).toBe(
        "EHLO localhost\r\nMAIL FROM:<s@example.com> BODY=8BITMIME\r\nRCPT TO:<to@example.com>\r\n" +
          `BDAT ${content.length} LAST\r\n${content}`
      )
    })
  )

  it.live("1 MiB of BINARYMIME in 64 KiB chunks built as it streams: the last is BDAT 0 LAST", () =>
    Effect.gen(function* () {
      const seen: Array<{ lines: ReadonlyArray<string>; content: string }> = []
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING", "8BITMIME", "CHUNKING", "BINARYMIME"])
          seen.push(yield* transaction(peer))
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port })
      const result = yield* connection.send(
        { ...envelope("s@example.com", "to@example.com"), mailParameters: binaryMime },
        body(...mebibyte.pieces)
      )
      expect(result.accepted).toEqual(["to@example.com"])
      expect(seen[0]!.lines).toEqual([...Array.from({ length: 16 }, () => "BDAT 65536"), "BDAT 0 LAST"])
      expect(seen[0]!.content === mebibyte.whole).toBe(true)
      expect((yield* fake.received)[0]).toContain("MAIL FROM:<s@example.com> BODY=BINARYMIME\r\n")
    })
  )

  it.live("chunkSize bounds each chunk; a body that ends mid-chunk ends with BDAT n LAST", () =>
    Effect.gen(function* () {
      const seen: Array<ReadonlyArray<string>> = []
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["CHUNKING"])
          seen.push((yield* transaction(peer)).lines)
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, chunkSize: 5, timeouts: quick })
      yield* connection.send(envelope("s@example.com", "to@example.com"), body("abcdefg", "hijklm"))
      expect(seen).toEqual([["BDAT 5", "BDAT 5", "BDAT 3 LAST"]])
      expect((yield* fake.received)[0]).toContain("BDAT 5\r\nabcdeBDAT 5\r\nfghijBDAT 3 LAST\r\nklm")
    })
  )

  it.live("without PIPELINING each chunk waits for its reply; with it the next chunk comes first", () =>
    Effect.gen(function* () {
      // what the client had sent beyond each chunk by the time (50 ms later) it was answered
      const early: Array<string> = []
      const waits = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["CHUNKING"])
          yield* accept(peer)
          for (let i = 0; i < 3; i++) {
            const line = yield* peer.line
            yield* peer.bytes(Number(line.split(" ")[1]))
            yield* Effect.sleep("50 millis")
            early.push(yield* peer.unread)
            yield* peer.send("250 2.0.0 Ok\r\n")
          }
        })
      )
      const one = yield* connect({ host: waits.host, port: waits.port, chunkSize: 4, timeouts: quick })
      yield* one.send(envelope("s@example.com", "to@example.com"), body("12345678"))
      expect(early).toEqual(["", "", ""])
      // had the client waited for the reply to the first chunk, the second would never come
      const ahead = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING", "CHUNKING"])
          yield* peer.until("RCPT TO:<to@example.com>\r\n")
          yield* peer.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
          yield* peer.until("BDAT 4\r\n1234BDAT 4\r\n5678")
          yield* peer.send("250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n")
          yield* chunk(peer, "250 2.0.0 Done")
        })
      )
      const two = yield* connect({ host: ahead.host, port: ahead.port, chunkSize: 4, timeouts: quick })
      const result = yield* two.send(envelope("s@example.com", "to@example.com"), body("12345678"))
      expect(result.reply).toEqual(Reply.make(250, "2.0.0", "Done"))
    })
  )

  it.live("a refused chunk: UpstreamRefused for BDAT, the chunk behind it read, RSET, and the next message goes", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING", "CHUNKING"])
          yield* accept(peer)
          yield* chunk(peer)
          yield* chunk(peer, "552 5.3.4 Message too big")
          // the chunk already in the pipeline is read and discarded (RFC 3030 §4.2)
          yield* chunk(peer, "503 5.5.1 Transaction failed")
          expect(yield* peer.line).toBe("RSET")
          yield* peer.send("250 2.0.0 Ok\r\n")
          yield* transaction(peer)
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, chunkSize: 4, timeouts: quick })
      const error = yield* Effect.flip(
        connection.send(envelope("s@example.com", "to@example.com"), body("0123456789abcdefghij"))
      )
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("BDAT")
      expect(error.reply).toEqual(Reply.make(552, "5.3.4", "Message too big"))
      const next = yield* connection.send(envelope("s@example.com", "to@example.com"), body("next"))
      expect(next.reply.code).toBe(250)
      expect((yield* fake.received)[0]).toMatch(
        /RSET\r\nMAIL FROM:<s@example.com>\r\n.*BDAT 4\r\nnextBDAT 0 LAST\r\n$/s
      )
    })
  )

  it.live(
    "BODY=BINARYMIME without CHUNKING, or with chunking: false: UpstreamUnsupported, 554 5.6.3, nothing sent",
    () =>
      Effect.gen(function* () {
        const noChunking = yield* fakeUpstream((peer) => greet(peer, ["PIPELINING", "8BITMIME", "BINARYMIME"]))
        const offered = yield* fakeUpstream((peer) => greet(peer, ["PIPELINING", "8BITMIME", "BINARYMIME", "CHUNKING"]))
        for (const [fake, chunking] of [
          [noChunking, true],
          [offered, false]
        ] as const) {
          const error = yield* Effect.flip(
            Effect.flatMap(connect({ host: fake.host, port: fake.port, chunking, timeouts: quick }), (connection) =>
              connection.send(
                { ...envelope("s@example.com", "to@example.com"), mailParameters: binaryMime },
                body("\0binary\r")
              )
            )
          ).pipe(Effect.scoped)
          expect(error).toEqual(new UpstreamUnsupported({ extension: "BINARYMIME" }))
          expect(SmtpError.reply(toSmtpError(error))).toEqual(
            Reply.make(554, "5.6.3", "Upstream server does not accept binary content")
          )
          expect(yield* fake.received).toEqual(["EHLO localhost\r\nQUIT\r\n"])
        }
      })
  )

  it.live("chunking: false sends DATA to a server that offers CHUNKING", () =>
    Effect.gen(function* () {
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          yield* greet(peer, ["PIPELINING", "CHUNKING"])
          yield* peer.until("DATA\r\n")
          yield* peer.send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n")
          yield* peer.until("\r\n.\r\n")
          yield* peer.send("250 2.0.0 Ok\r\n")
        })
      )
      const connection = yield* connect({ host: fake.host, port: fake.port, chunking: false, timeouts: quick })
      expect(connection.extensions.has("CHUNKING")).toBe(true)
      yield* connection.send(envelope("s@example.com", "to@example.com"), body(".dot\r\n"))
      expect((yield* fake.received)[0]).toContain("DATA\r\n..dot\r\n.\r\n")
    })
  )
})

describe("SmtpClient with BDAT against our server", () => {
  it.live("the tricky body and 1 MiB of BINARYMIME arrive byte for byte; step by step too", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.has("CHUNKING")).toBe(true)
      expect(connection.extensions.has("BINARYMIME")).toBe(true)
      yield* connection.send(
        { ...envelope("s@example.com", "to@example.com"), mailParameters: eightBitMime },
        body(...trickyChunks)
      )
      yield* connection.send(
        { ...envelope("s@example.com", "to@example.com"), mailParameters: binaryMime },
        body(...mebibyte.pieces)
      )
      yield* connection.mail("s@example.com")
      yield* connection.rcpt("to@example.com")
      const replies = yield* connection.dataReplies(body("step\rby\nstep"))
      expect(replies).toEqual([{ address: "to@example.com", reply: Reply.make(250, "2.0.0", "Ok: message accepted") }])
      const deliveries = yield* server.deliveries
      expect(deliveries.map((d) => d.envelope.mailOptions.body)).toEqual(["8BITMIME", "BINARYMIME", undefined])
      expect(text(deliveries[0]!.data)).toBe(trickyChunks.join(""))
      expect(text(deliveries[1]!.data) === mebibyte.whole).toBe(true)
      expect(text(deliveries[2]!.data)).toBe("step\rby\nstep")
    })
  )

  it.live("BDAT without a recipient: refused, and the connection goes on", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const connection = yield* connect({ host: server.host, port: server.port })
      yield* connection.mail("s@example.com")
      const error = yield* Effect.flip(connection.data(body("never\r\n")))
      assert.instanceOf(error, UpstreamRefused)
      expect(error.reply.code).toBe(503)
      yield* connection.rset
      const result = yield* connection.send(envelope("s@example.com", "to@example.com"), body("later\r\n"))
      expect(result.reply.code).toBe(250)
      expect((yield* server.deliveries).map((d) => text(d.data))).toEqual(["later\r\n"])
    })
  )

  it.live("BODY=BINARYMIME to our server without CHUNKING: UpstreamUnsupported before MAIL", () =>
    Effect.gen(function* () {
      const server = yield* ourServer({ chunking: false })
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.has("CHUNKING")).toBe(false)
      const error = yield* Effect.flip(connection.mail("s@example.com", binaryMime))
      expect(error).toEqual(new UpstreamUnsupported({ extension: "BINARYMIME" }))
      // nothing was sent: no transaction is open
      const result = yield* connection.send(envelope("s@example.com", "to@example.com"), body("x\r\n"))
      expect(result.reply.code).toBe(250)
    })
  )
})
