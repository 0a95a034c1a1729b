// The SMTP client against real servers (ours, aiosmtpd, Postfix's smtp-sink) and against fake
// ones scripted to misbehave: delivery byte for byte, pipelining, per-recipient results, the
// extensions it must not send without, STARTTLS and implicit TLS with certificate checks, AUTH,
// and each way an upstream can fail (with short timeouts, so that the failures come fast).
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Context, Duration, Effect, Layer, Redacted, Schedule, Stream } from "effect"
import { toSmtpError, UpstreamRefused, UpstreamUnavailable, UpstreamUnsupported } from "../../src/client/ClientError.js"
import * as SmtpClient from "../../src/client/SmtpClient.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as NodeSmtpServer from "../../src/node/NodeSmtpServer.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/server/SmtpError.js"
import { SmtpServer } from "../../src/server/SmtpServer.js"
import { crlf, text } from "../utils/server.js"
import { skipWithout } from "../utils/tools.js"
import { aiosmtpd, certificate, type FakePeer, fakeUpstream, freePort, smtpSink } from "../utils/upstreams.js"

const connect = (options: SmtpClient.Options) =>
  Effect.flatMap(SmtpClient.SmtpClient, (client) => client.connect(options)).pipe(Effect.provide(NodeSmtpClient.layer))

const bytes = (latin1: string) => new Uint8Array(Buffer.from(latin1, "latin1"))
const body = (...chunks: ReadonlyArray<string>) => Stream.fromIterable(chunks.map(bytes))

const envelope = (mailFrom: string, ...recipients: ReadonlyArray<string>): SmtpClient.Envelope => ({
  mailFrom,
  mailParameters: [],
  recipients: recipients.map((address) => ({ address, parameters: [] }))
})

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.timed(effect), ([duration, value]) => [Duration.toMillis(duration), value] as const)

const eightBitMime = [{ keyword: "BODY", value: "8BITMIME" }]

// short limits: a failure that waits for one shows up in a fraction of a second
const quick: Partial<SmtpClient.Timeouts> = {
  connect: "1 second",
  greeting: "300 millis",
  command: "300 millis",
  mail: "300 millis",
  rcpt: "300 millis",
  dataInit: "300 millis",
  dataBlock: "1 second",
  dataEnd: "300 millis"
}

// a tricky body: dot lines (one split from its CRLF, one at the start of a chunk), a CRLF split
// across chunks, a bare LF, a bare CR, 8-bit bytes, and no line break at the end
const trickyChunks = [
  "Subject: exact\r\n\r\n.leading dot\r\n..two dots\r\n.",
  "\r\n",
  ".at the start of a chunk\r\nbare LF\n.after the bare LF\r",
  "\nlatin-1 \xe9\xff\x80 and a bare CR\rend"
]
// what arrives: every line break CRLF, one added at the end, the dots as they were
const trickyDelivered = crlf(trickyChunks.join("")) + "\r\n"

// --- our server, refusing recipients that start with "refuse" ---------------------------------

const RefusingRecording = Layer.effectContext(
  Effect.gen(function* () {
    const context = yield* Layer.build(Recording.layer)
    const recording = Context.get(context, MessageHandler.MessageHandler)
    return Context.add(
      context,
      MessageHandler.MessageHandler,
      MessageHandler.make({
        data: recording.data,
        rcpt: (_session, recipient) =>
          recipient.address.startsWith("refuse")
            ? Effect.fail(new SmtpError.MailboxNotFound({ text: `No mailbox ${recipient.address}` }))
            : Effect.void
      })
    )
  })
)

const ourServer = (options: NodeSmtpServer.Options = {}) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      NodeSmtpServer.layer({ listen: "127.0.0.1:0", hostname: "mx.test", shutdownGrace: "1 second", ...options }).pipe(
        Layer.provideMerge(RefusingRecording)
      )
    )
    const server = Context.get(context, SmtpServer)
    return {
      host: "127.0.0.1",
      port: server.addresses[0]!.port,
      deliveries: Context.get(context, Recording.Recording).deliveries,
      // once the server has seen every session end, what it stored is final
      settled: server.activeSessions.pipe(
        Effect.filterOrFail((active) => active === 0),
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 }),
        Effect.orDie
      )
    }
  })

describe("SmtpClient against our server", () => {
  it.live("delivers byte for byte: dots stuffed, bare line endings completed, 8-bit with BODY=8BITMIME", () =>
    Effect.gen(function* () {
      // bare CR or LF on the wire would be refused: the client must send only CRLF
      const server = yield* ourServer({ bareLineEndings: "reject" })
      const connection = yield* connect({ host: server.host, port: server.port, heloName: "client.test" })
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
      const connection = yield* connect({ host: server.host, port: server.port })
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
      const server = yield* ourServer({ maxMessageSize: 0 })
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

// --- aiosmtpd ---------------------------------------------------------------------------------

const credentials = { user: "relay-user", password: "s3cret pass" }
const auth = (password = credentials.password) => ({ user: credentials.user, password: Redacted.make(password) })

describe.skipIf(skipWithout("aiosmtpd", "openssl"))("SmtpClient against aiosmtpd", () => {
  it.live("delivers byte for byte without PIPELINING, and a refused recipient is reported", () =>
    Effect.gen(function* () {
      const server = yield* aiosmtpd()
      const connection = yield* connect({ host: server.host, port: server.port, heloName: "client.test" })
      expect(connection.extensions.has("PIPELINING")).toBe(false)
      const result = yield* connection.send(
        {
          ...envelope("sender@example.com", "one@example.com", "refuse-me@example.com", "two@example.com"),
          mailParameters: eightBitMime
        },
        body(...trickyChunks)
      )
      expect(result.reply.code).toBe(250)
      expect(result.accepted).toEqual(["one@example.com", "two@example.com"])
      expect(result.refused).toEqual([
        { address: "refuse-me@example.com", reply: Reply.make(550, "5.1.1", "No such user") }
      ])
      const [delivery] = yield* server.deliveries(1)
      expect(delivery!.helo).toBe("client.test")
      expect(delivery!.mail_from).toBe("sender@example.com")
      expect(delivery!.mail_options).toEqual(["BODY=8BITMIME"])
      expect(delivery!.rcpt_tos).toEqual(["one@example.com", "two@example.com"])
      expect(delivery!.tls).toBe(false)
      expect(text(delivery!.content)).toBe(trickyDelivered)
    })
  )

  it.live("every recipient refused, one command at a time: UpstreamRefused; the next message still goes", () =>
    Effect.gen(function* () {
      const server = yield* aiosmtpd()
      const connection = yield* connect({ host: server.host, port: server.port })
      const error = yield* Effect.flip(
        connection.send(envelope("s@example.com", "refuse-me@example.com"), body("x\r\n"))
      )
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("RCPT")
      expect(error.reply).toEqual(Reply.make(550, "5.1.1", "No such user"))
      const result = yield* connection.send(envelope("s@example.com", "next@example.com"), body("next\r\n"))
      expect(result.accepted).toEqual(["next@example.com"])
      expect((yield* server.deliveries(1)).map((d) => d.rcpt_tos)).toEqual([["next@example.com"]])
    })
  )

  it.live("STARTTLS with the server's certificate trusted: secure, EHLO again, delivered over TLS", () =>
    Effect.gen(function* () {
      const cert = yield* certificate()
      const server = yield* aiosmtpd({ certificate: cert, startTls: true, requireStartTls: true })
      const connection = yield* connect({ host: server.host, port: server.port, tls: { ca: cert.pem } })
      expect(connection.secure).toBe(true)
      // the extensions are those of the EHLO after the handshake, which no longer offers STARTTLS
      expect(connection.extensions.has("STARTTLS")).toBe(false)
      const result = yield* connection.send(envelope("s@example.com", "tls@example.com"), body("over TLS\r\n"))
      expect(result.reply.code).toBe(250)
      const [delivery] = yield* server.deliveries(1)
      expect(delivery!.tls).toBe(true)
      expect(text(delivery!.content)).toBe("over TLS\r\n")
    })
  )

  it.live("STARTTLS verifies the certificate: an untrusted one or a wrong name fails with reason tls", () =>
    Effect.gen(function* () {
      const cert = yield* certificate()
      const server = yield* aiosmtpd({ certificate: cert, startTls: true })
      const untrusted = yield* Effect.flip(connect({ host: server.host, port: server.port, timeouts: quick }))
      assert.instanceOf(untrusted, UpstreamUnavailable)
      expect(untrusted.reason).toBe("tls")
      const wrongName = yield* Effect.flip(
        connect({
          host: server.host,
          port: server.port,
          tls: { ca: cert.pem, servername: "mx.elsewhere.test" },
          timeouts: quick
        })
      )
      assert.instanceOf(wrongName, UpstreamUnavailable)
      expect(wrongName.reason).toBe("tls")
    })
  )

  it.live("STARTTLS with rejectUnauthorized: false takes any certificate; startTls: off stays plain", () =>
    Effect.gen(function* () {
      const cert = yield* certificate()
      const server = yield* aiosmtpd({ certificate: cert, startTls: true })
      const unchecked = yield* connect({ host: server.host, port: server.port, tls: { rejectUnauthorized: false } })
      expect(unchecked.secure).toBe(true)
      yield* unchecked.send(envelope("s@example.com", "unchecked@example.com"), body("a\r\n"))
      const plain = yield* connect({ host: server.host, port: server.port, startTls: "off" })
      expect(plain.secure).toBe(false)
      expect(plain.extensions.has("STARTTLS")).toBe(true)
      yield* plain.send(envelope("s@example.com", "plain@example.com"), body("b\r\n"))
      const deliveries = yield* server.deliveries(2)
      expect(deliveries.map((d) => [d.rcpt_tos[0], d.tls])).toEqual([
        ["unchecked@example.com", true],
        ["plain@example.com", false]
      ])
    })
  )

  it.live("startTls: required against a server without STARTTLS fails with reason tls", () =>
    Effect.gen(function* () {
      const server = yield* aiosmtpd()
      const error = yield* Effect.flip(
        connect({ host: server.host, port: server.port, startTls: "required", timeouts: quick })
      )
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("tls")
    })
  )

  it.live("implicit TLS: TLS from the first byte, delivered", () =>
    Effect.gen(function* () {
      const cert = yield* certificate()
      const server = yield* aiosmtpd({ certificate: cert, implicitTls: true })
      const connection = yield* connect({
        host: server.host,
        port: server.port,
        implicitTls: true,
        tls: { ca: cert.pem }
      })
      expect(connection.secure).toBe(true)
      yield* connection.send(envelope("s@example.com", "implicit@example.com"), body("implicit\r\n"))
      const [delivery] = yield* server.deliveries(1)
      expect(delivery!.tls).toBe(true)
      expect(text(delivery!.content)).toBe("implicit\r\n")
      // without implicitTls no greeting comes: the server waits for a TLS handshake
      const plain = yield* Effect.flip(connect({ host: server.host, port: server.port, timeouts: quick }))
      assert.instanceOf(plain, UpstreamUnavailable)
      expect(plain.reason).toBe("timeout")
    })
  )

  it.live("AUTH PLAIN over STARTTLS with good credentials delivers; bad ones fail with reason auth", () =>
    Effect.gen(function* () {
      const cert = yield* certificate()
      const server = yield* aiosmtpd({ certificate: cert, startTls: true, auth: credentials })
      const connection = yield* connect({ host: server.host, port: server.port, tls: { ca: cert.pem }, auth: auth() })
      yield* connection.send(envelope("s@example.com", "authed@example.com"), body("authenticated\r\n"))
      const [delivery] = yield* server.deliveries(1)
      expect(delivery!.authenticated).toBe(true)
      const bad = yield* Effect.flip(
        connect({ host: server.host, port: server.port, tls: { ca: cert.pem }, auth: auth("wrong"), timeouts: quick })
      )
      assert.instanceOf(bad, UpstreamUnavailable)
      expect(bad.reason).toBe("auth")
      expect(yield* server.auths(2)).toEqual([
        { mechanism: "PLAIN", tls: true, success: true },
        { mechanism: "PLAIN", tls: true, success: false }
      ])
    })
  )

  it.live("AUTH LOGIN when the server does not offer PLAIN", () =>
    Effect.gen(function* () {
      const cert = yield* certificate()
      const server = yield* aiosmtpd({
        certificate: cert,
        startTls: true,
        auth: { ...credentials, exclude: ["PLAIN"] }
      })
      const connection = yield* connect({ host: server.host, port: server.port, tls: { ca: cert.pem }, auth: auth() })
      expect(connection.extensions.get("AUTH")?.split(" ")).toEqual(["LOGIN"])
      yield* connection.send(envelope("s@example.com", "login@example.com"), body("login\r\n"))
      expect((yield* server.deliveries(1))[0]!.authenticated).toBe(true)
      expect(yield* server.auths(1)).toEqual([{ mechanism: "LOGIN", tls: true, success: true }])
    })
  )

  it.live("credentials are not sent without TLS unless allowPlaintextAuth", () =>
    Effect.gen(function* () {
      const server = yield* aiosmtpd({ auth: { ...credentials, requireTls: false } })
      const refused = yield* Effect.flip(
        connect({ host: server.host, port: server.port, auth: auth(), timeouts: quick })
      )
      assert.instanceOf(refused, UpstreamUnavailable)
      expect(refused.reason).toBe("auth")
      // nothing reached the server: the one AUTH it sees (below) is the one with allowPlaintextAuth
      const connection = yield* connect({
        host: server.host,
        port: server.port,
        auth: auth(),
        allowPlaintextAuth: true
      })
      expect(connection.secure).toBe(false)
      yield* connection.send(envelope("s@example.com", "plain-auth@example.com"), body("plain auth\r\n"))
      expect((yield* server.deliveries(1))[0]!.authenticated).toBe(true)
      expect(yield* server.auths(1)).toEqual([{ mechanism: "PLAIN", tls: false, success: true }])
    })
  )
})

// --- smtp-sink --------------------------------------------------------------------------------

describe.skipIf(skipWithout("postfix"))("SmtpClient against Postfix's smtp-sink", () => {
  it.live("a pipelined message to three recipients is accepted and dumped", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink()
      const connection = yield* connect({ host: sink.host, port: sink.port, heloName: "client.test" })
      expect(connection.extensions.has("PIPELINING")).toBe(true)
      const result = yield* connection.send(
        {
          ...envelope("s@example.com", "a@example.com", "b@example.com", "c@example.com"),
          mailParameters: eightBitMime
        },
        body("Subject: sink\r\n\r\n.dot\r\nend")
      )
      expect(result.reply.code).toBe(250)
      expect(result.accepted).toEqual(["a@example.com", "b@example.com", "c@example.com"])
      const dump = yield* sink.dump(1)
      expect(dump).toContain("X-Helo-Args: client.test\n")
      expect(dump).toContain("X-Mail-Args: <s@example.com> BODY=8BITMIME\n")
      expect(dump.match(/^X-Rcpt-Args: .*$/gm)).toEqual([
        "X-Rcpt-Args: <a@example.com>",
        "X-Rcpt-Args: <b@example.com>",
        "X-Rcpt-Args: <c@example.com>"
      ])
      expect(dump).toContain("\nSubject: sink\n\n.dot\nend\n")
    })
  )

  it.live("every RCPT refused with 450 (and no PIPELINING): UpstreamRefused with the 450", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink(["-r", "RCPT"])
      const connection = yield* connect({ host: sink.host, port: sink.port })
      expect(connection.extensions.has("PIPELINING")).toBe(false)
      const error = yield* Effect.flip(connection.send(envelope("s@example.com", "a@example.com"), body("x\r\n")))
      assert.instanceOf(error, UpstreamRefused)
      expect(error.command).toBe("RCPT")
      expect(error.reply).toEqual(Reply.make(450, "4.3.0", "Error: command failed"))
    })
  )

  it.live("a message refused after the final dot: UpstreamRefused with the server's reply", () =>
    Effect.gen(function* () {
      const sink = yield* smtpSink(["-f", "."])
      const connection = yield* connect({ host: sink.host, port: sink.port })
      const error = yield* Effect.flip(connection.send(envelope("s@example.com", "a@example.com"), body("x\r\n")))
      assert.instanceOf(error, UpstreamRefused)
      expect(error.reply).toEqual(Reply.make(500, "5.3.0", "Error: command failed"))
      // the reply to the final dot, not to the DATA command
      expect(error.command).toBe("end of data")
    })
  )
})

// --- fake upstreams ---------------------------------------------------------------------------

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

  it.live("plaintext injected after the 220 to STARTTLS: reason tls, nothing more is sent", () =>
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
        connect({ host: fake.host, port: fake.port, tls: { rejectUnauthorized: false }, timeouts: quick })
      ).pipe(Effect.scoped)
      assert.instanceOf(error, UpstreamUnavailable)
      expect(error.reason).toBe("tls")
      expect(yield* fake.received).toEqual(["EHLO localhost\r\nSTARTTLS\r\n"])
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

// --- the replies for our own client -----------------------------------------------------------

describe("toSmtpError", () => {
  it("a 421 becomes 451 with its lines kept (it is not our session that closes)", () => {
    const error = new UpstreamRefused({
      command: "MAIL",
      reply: Reply.make(421, "4.3.2", ["mx.upstream.test", "Service shutting down"])
    })
    expect(SmtpError.reply(toSmtpError(error))).toEqual(
      Reply.make(451, "4.3.2", ["mx.upstream.test", "Service shutting down"])
    )
    const bare = new UpstreamRefused({ command: "MAIL", reply: Reply.make(421, undefined, "closing") })
    expect(SmtpError.reply(toSmtpError(bare))).toEqual(Reply.make(451, "4.4.1", "closing"))
  })

  it("a refusal passes as it was", () => {
    const reply = Reply.make(550, "5.1.1", ["No such user", "here"])
    expect(SmtpError.reply(toSmtpError(new UpstreamRefused({ command: "RCPT", reply })))).toEqual(reply)
    const transient = Reply.make(452, "4.2.2", "Mailbox full")
    expect(SmtpError.reply(toSmtpError(new UpstreamRefused({ command: "RCPT", reply: transient })))).toEqual(transient)
  })

  it("an unreachable upstream is 451 4.4.1 and its detail is not told", () => {
    for (const reason of ["connect", "timeout", "closed", "protocol", "tls", "auth"] as const) {
      const reply = SmtpError.reply(
        toSmtpError(new UpstreamUnavailable({ reason, detail: "secret.internal:2525 said password=hunter2" }))
      )
      expect(reply).toEqual(Reply.make(451, "4.4.1", "Upstream server unavailable, try again later"))
    }
  })

  it("a missing extension is permanent: 554 5.6.3 for 8BITMIME, 553 5.6.7 for SMTPUTF8", () => {
    expect(SmtpError.reply(toSmtpError(new UpstreamUnsupported({ extension: "8BITMIME" })))).toEqual(
      Reply.make(554, "5.6.3", "Upstream server does not accept 8-bit content")
    )
    expect(SmtpError.reply(toSmtpError(new UpstreamUnsupported({ extension: "SMTPUTF8" })))).toEqual(
      Reply.make(553, "5.6.7", "Upstream server does not accept UTF-8 addresses")
    )
  })
})
