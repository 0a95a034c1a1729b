// The SMTP client against our own server on a loopback port: delivery byte for byte, pipelining
// and per-recipient results, the extensions it must not send without, failing and interrupted
// bodies, and credentials for a server that offers no AUTH.
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Redacted, Stream } from "effect"
import { UpstreamRefused, UpstreamUnavailable, UpstreamUnsupported } from "../../src/client/ClientError.js"
import * as Reply from "../../src/protocol/Reply.js"
import { text } from "../utils/server.js"
import { body, connect, eightBitMime, elapsed, envelope, trickyChunks, trickyDelivered } from "../utils/smtpClient.js"
import { ourServer } from "./ourServer.js"

describe("SmtpClient against our server", () => {
  it.live("delivers byte for byte: dots stuffed, bare line endings completed, 8-bit with BODY=8BITMIME", () =>
    Effect.gen(function* () {
      // bare CR or LF on the wire would be refused: the client must send only CRLF
      const server = yield* ourServer({ bareLineEndings: "reject" })
      // DATA, though the server offers CHUNKING: BDAT sends bytes as they are (Chunking.test.ts)
      const connection = yield* connect({
        host: server.host,
        port: server.port,
        heloName: "client.test",
        chunking: false
      })
      expect(connection.extensions.has("CHUNKING")).toBe(true)
      expect(connection.extensions.has("8BITMIME")).toBe(true)
      expect(connection.secure).toBe(false)
      const result = yield* connection.send(
        { ...envelope("sender@example.com", "to@example.com"), mailParameters: eightBitMime },
        body(...trickyChunks)
      )
      expect(result.reply.code).toBe(250)
      expect(result.accepted).toEqual(["to@example.com"])
      expect(result.refused).toEqual([])
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.helo).toBe("client.test")
      expect(delivery!.mailFrom).toBe("sender@example.com")
      expect(delivery!.envelope.mailOptions.body).toBe("8BITMIME")
      expect(text(delivery!.data)).toBe(trickyDelivered)
    })
  )

  it.live("pipelined: refused recipients are reported one by one, the others get the message", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.has("PIPELINING")).toBe(true)
      const result = yield* connection.send(
        envelope("s@example.com", "one@example.com", "refuse-me@example.com", "two@example.com"),
        body("Subject: some\r\n\r\nhi\r\n")
      )
      expect(result.reply).toEqual(Reply.make(250, "2.0.0", "Ok: message accepted"))
      expect(result.accepted).toEqual(["one@example.com", "two@example.com"])
      expect(result.refused).toEqual([
        { address: "refuse-me@example.com", reply: Reply.make(550, "5.1.1", "No mailbox refuse-me@example.com") }
      ])
      const deliveries = yield* server.deliveries
      expect(deliveries.map((d) => d.rcptTos)).toEqual([["one@example.com", "two@example.com"]])
      expect(text(deliveries[0]!.data)).toBe("Subject: some\r\n\r\nhi\r\n")
    })
  )

  it.live("every recipient refused: UpstreamRefused with the first refusal; the next message still goes", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const connection = yield* connect({ host: server.host, port: server.port })
      const error = yield* Effect.flip(
        connection.send(
          envelope("s@example.com", "refuse-a@example.com", "refuse-b@example.com"),
          body("Subject: none\r\n\r\nnobody\r\n")
        )
      )
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("RCPT")
      expect(error.reply).toEqual(Reply.make(550, "5.1.1", "No mailbox refuse-a@example.com"))
      expect(yield* server.deliveries).toEqual([])
      // `send` is a whole transaction: a failed one must not leave MAIL open (503 to the next MAIL)
      const result = yield* connection.send(envelope("s@example.com", "later@example.com"), body("later\r\n"))
      expect(result.accepted).toEqual(["later@example.com"])
      expect((yield* server.deliveries).map((d) => text(d.data))).toEqual(["later\r\n"])
    })
  )

  it.live("step by step: mail, rcpt, data and rset, each with its reply or refusal", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      // DATA's replies (BDAT's: Chunking.test.ts)
      const connection = yield* connect({ host: server.host, port: server.port, chunking: false })
      const early = yield* Effect.flip(connection.rcpt("to@example.com"))
      assert.instanceOf(early, UpstreamRefused)
      expect([early.command, early.reply.code]).toEqual(["RCPT", 503])
      expect(yield* connection.mail("s@example.com")).toEqual(Reply.make(250, "2.1.0", "Ok"))
      const refused = yield* Effect.flip(connection.rcpt("refuse-me@example.com"))
      assert.instanceOf(refused, UpstreamRefused)
      expect(refused.reply).toEqual(Reply.make(550, "5.1.1", "No mailbox refuse-me@example.com"))
      expect(yield* connection.rcpt("to@example.com")).toEqual(Reply.make(250, "2.1.5", "Ok"))
      const reply = yield* connection.data(body("Subject: steps\r\n\r\n.one\r\n", "two"))
      expect(reply).toEqual(Reply.make(250, "2.0.0", "Ok: message accepted"))
      // DATA without a recipient
      yield* connection.mail("s@example.com")
      const data = yield* Effect.flip(connection.data(body("never\r\n")))
      assert.instanceOf(data, UpstreamRefused)
      expect([data.command, data.reply.code]).toEqual(["DATA", 554])
      yield* connection.rset
      yield* connection.mail("again@example.com")
      const [delivery, ...others] = yield* server.deliveries
      expect(others).toEqual([])
      expect(delivery!.rcptTos).toEqual(["to@example.com"])
      expect(text(delivery!.data)).toBe("Subject: steps\r\n\r\n.one\r\ntwo\r\n")
    })
  )

  it.live("addresses that would inject a command are refused locally, never sent", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const connection = yield* connect({ host: server.host, port: server.port })
      const result = yield* connection.send(
        envelope("s@example.com", "ok@example.com", "evil@example.com>\r\nRCPT TO:<injected@example.com"),
        body("x\r\n")
      )
      expect(result.accepted).toEqual(["ok@example.com"])
      expect(result.refused).toEqual([
        {
          address: "evil@example.com>\r\nRCPT TO:<injected@example.com",
          reply: Reply.make(501, "5.1.3", "Invalid recipient address")
        }
      ])
      const sender = yield* Effect.flip(
        connection.send(envelope("s@example.com>\r\nRCPT TO:<injected@example.com", "ok@example.com"), body("y\r\n"))
      )
      assert.instanceOf(sender, UpstreamRefused)
      expect(sender.reply).toEqual(Reply.make(501, "5.1.7", "Invalid sender address"))
      expect((yield* server.deliveries).map((d) => d.rcptTos)).toEqual([["ok@example.com"]])
    })
  )

  it.live("SIZE, BODY and SMTPUTF8 pass through, with UTF-8 addresses, when the server offers them", () =>
    Effect.gen(function* () {
      const server = yield* ourServer({ smtpUtf8: true, maxMessageSize: 10_000 })
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.get("SIZE")).toBe("10000")
      expect(connection.extensions.has("SMTPUTF8")).toBe(true)
      const result = yield* connection.send(
        {
          mailFrom: "jörg@exämple.test",
          mailParameters: [{ keyword: "SIZE", value: "321" }, ...eightBitMime, { keyword: "SMTPUTF8" }],
          recipients: [{ address: "ünï@例え.test", parameters: [] }]
        },
        body("Subject: utf8\r\n\r\n\xc3\xbc\r\n")
      )
      expect(result.accepted).toEqual(["ünï@例え.test"])
      const [delivery] = yield* server.deliveries
      expect(delivery!.mailFrom).toBe("jörg@exämple.test")
      expect(delivery!.rcptTos).toEqual(["ünï@例え.test"])
      expect(delivery!.envelope.mailOptions).toEqual({ size: 321, body: "8BITMIME", smtpUtf8: true })
      expect(text(delivery!.data)).toBe("Subject: utf8\r\n\r\n\xc3\xbc\r\n")
    })
  )

  it.live("a UTF-8 address without the SMTPUTF8 parameter: the client adds it (RFC 6531 §3.4)", () =>
    Effect.gen(function* () {
      const server = yield* ourServer({ smtpUtf8: true })
      const connection = yield* connect({ host: server.host, port: server.port })
      const result = yield* connection.send(envelope("jörg@example.com", "to@example.com"), body("x\r\n"))
      expect(result.accepted).toEqual(["to@example.com"])
      const [delivery] = yield* server.deliveries
      expect(delivery!.envelope.mailOptions.smtpUtf8).toBe(true)
    })
  )

  it.live("parameters of extensions the server does not offer are left out (SIZE unlimited, no DSN)", () =>
    Effect.gen(function* () {
      // our server answers 555 to a parameter it does not know: sent anyway, these would fail
      const server = yield* ourServer({ maxMessageSize: 0, dsn: false })
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.has("SIZE")).toBe(false)
      expect(connection.extensions.has("DSN")).toBe(false)
      const result = yield* connection.send(
        {
          mailFrom: "s@example.com",
          mailParameters: [
            { keyword: "SIZE", value: "12" },
            { keyword: "RET", value: "HDRS" }
          ],
          recipients: [{ address: "to@example.com", parameters: [{ keyword: "NOTIFY", value: "NEVER" }] }]
        },
        body("twelve bytes")
      )
      expect(result.reply.code).toBe(250)
      const [delivery] = yield* server.deliveries
      expect(delivery!.envelope.mailParameters).toEqual([])
      expect(delivery!.envelope.recipients).toEqual([{ address: "to@example.com", parameters: [] }])
    })
  )

  it.live("BODY=8BITMIME to a server without 8BITMIME: UpstreamUnsupported before MAIL is sent", () =>
    Effect.gen(function* () {
      const server = yield* ourServer({ decodeData: true })
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.has("8BITMIME")).toBe(false)
      const sent = yield* Effect.flip(
        connection.send({ ...envelope("s@example.com", "to@example.com"), mailParameters: eightBitMime }, body("x\r\n"))
      )
      expect(sent).toEqual(new UpstreamUnsupported({ extension: "8BITMIME" }))
      const mail = yield* Effect.flip(connection.mail("s@example.com", eightBitMime))
      expect(mail).toEqual(new UpstreamUnsupported({ extension: "8BITMIME" }))
      // nothing was sent: no transaction is open, and a 7-bit message goes through at once
      const result = yield* connection.send(envelope("s@example.com", "to@example.com"), body("seven bit\r\n"))
      expect(result.reply.code).toBe(250)
      expect((yield* server.deliveries).map((d) => text(d.data))).toEqual(["seven bit\r\n"])
    })
  )

  it.live("an undeclared 8-bit body to a server without 8BITMIME: UpstreamUnsupported, nothing delivered", () =>
    Effect.gen(function* () {
      const server = yield* ourServer({ decodeData: true })
      const error = yield* Effect.gen(function* () {
        const connection = yield* connect({ host: server.host, port: server.port })
        // the first chunk is 7-bit and already on the wire when the 8-bit one comes
        return yield* Effect.flip(
          connection.send(
            envelope("s@example.com", "to@example.com"),
            body("Subject: plain so far\r\n\r\nplain\r\n", "caf\xe9\r\n")
          )
        )
      }).pipe(Effect.scoped)
      expect(error).toEqual(new UpstreamUnsupported({ extension: "8BITMIME" }))
      yield* server.settled
      expect(yield* server.deliveries).toEqual([])
    })
  )

  it.live("UTF-8 addresses to a server without SMTPUTF8: the sender fails the message, a recipient is refused", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const connection = yield* connect({ host: server.host, port: server.port })
      expect(connection.extensions.has("SMTPUTF8")).toBe(false)
      const sender = yield* Effect.flip(connection.send(envelope("jörg@example.com", "to@example.com"), body("x")))
      expect(sender).toEqual(new UpstreamUnsupported({ extension: "SMTPUTF8" }))
      const parameter = yield* Effect.flip(
        connection.send(
          { ...envelope("s@example.com", "to@example.com"), mailParameters: [{ keyword: "SMTPUTF8" }] },
          body("x")
        )
      )
      expect(parameter).toEqual(new UpstreamUnsupported({ extension: "SMTPUTF8" }))
      const result = yield* connection.send(
        envelope("s@example.com", "ascii@example.com", "ünï@example.com"),
        body("x")
      )
      expect(result.accepted).toEqual(["ascii@example.com"])
      expect(result.refused).toEqual([
        {
          address: "ünï@example.com",
          reply: Reply.make(553, "5.6.7", "Upstream server does not accept UTF-8 addresses")
        }
      ])
      expect((yield* server.deliveries).map((d) => d.rcptTos)).toEqual([["ascii@example.com"]])
    })
  )

  it.live("streams a 3 MB body and it arrives exactly", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      // 100-byte lines, every seventh starting with a dot, cut into 64 KiB chunks across lines
      const lines: Array<string> = []
      for (let i = 0; lines.length * 100 < 3 * 1024 * 1024; i++) {
        lines.push((i % 7 === 0 ? "." : "x") + String(i).padStart(97, "-") + "\r\n")
      }
      const content = Buffer.from(lines.join(""), "latin1")
      const chunks: Array<Uint8Array> = []
      for (let at = 0; at < content.length; at += 65536) chunks.push(content.subarray(at, at + 65536))
      const connection = yield* connect({ host: server.host, port: server.port })
      const result = yield* connection.send(envelope("s@example.com", "big@example.com"), Stream.fromIterable(chunks))
      expect(result.reply.code).toBe(250)
      const [delivery] = yield* server.deliveries
      expect(delivery!.data.length).toBe(content.length)
      expect(Buffer.compare(Buffer.from(delivery!.data), content)).toBe(0)
    })
  )

  it.live("a body stream that fails: its error, no final dot, nothing delivered", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const error = yield* Effect.gen(function* () {
        const connection = yield* connect({ host: server.host, port: server.port })
        return yield* Effect.flip(
          connection.send(
            envelope("s@example.com", "to@example.com"),
            Stream.concat(body("Subject: cut short\r\n\r\nfirst part\r\n"), Stream.fail("disk gone" as const))
          )
        )
      }).pipe(Effect.scoped)
      expect(error).toBe("disk gone")
      yield* server.settled
      expect(yield* server.deliveries).toEqual([])
    })
  )

  it.live("interrupted in the middle of the body: the connection closes at once, nothing delivered", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const [ms] = yield* elapsed(
        Effect.gen(function* () {
          const connection = yield* connect({
            host: server.host,
            port: server.port,
            timeouts: { command: "3 seconds" }
          })
          const endless = Stream.concat(body("Subject: interrupted\r\n\r\nfirst part\r\n"), Stream.never)
          const error = yield* Effect.flip(
            connection.send(envelope("s@example.com", "to@example.com"), endless).pipe(Effect.timeout("100 millis"))
          )
          expect(Cause.isTimeoutError(error)).toBe(true)
        }).pipe(Effect.scoped)
      )
      // a QUIT now would be part of the message and get no reply: no waiting for one
      expect(ms).toBeLessThan(2500)
      yield* server.settled
      expect(yield* server.deliveries).toEqual([])
    })
  )

  it.live("credentials for a server that offers no AUTH: reason auth", () =>
    Effect.gen(function* () {
      const server = yield* ourServer()
      const error = yield* Effect.flip(
        connect({
          host: server.host,
          port: server.port,
          auth: { user: "u", password: Redacted.make("p") },
          allowPlaintextAuth: true
        })
      )
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("auth")
    })
  )
})
