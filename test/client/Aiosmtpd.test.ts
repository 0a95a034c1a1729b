// The SMTP client against Debian's aiosmtpd (skipped without it and openssl): delivery without
// PIPELINING, STARTTLS and implicit TLS with certificate checks, AUTH PLAIN and LOGIN.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { UpstreamRefused, UpstreamUnavailable } from "../../src/client/ClientError.js"
import * as Reply from "../../src/protocol/Reply.js"
import { text } from "../utils/server.js"
import { body, connect, eightBitMime, envelope, quick, trickyChunks, trickyDelivered } from "../utils/smtpClient.js"
import { skipWithout } from "../utils/tools.js"
import { aiosmtpd, certificate } from "../utils/upstreams.js"

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

  it.live(
    "STARTTLS at level verify checks the certificate: an untrusted one or a wrong name fails with reason tls",
    () =>
      Effect.gen(function* () {
        const cert = yield* certificate()
        const server = yield* aiosmtpd({ certificate: cert, startTls: true })
        const untrusted = yield* Effect.flip(
          connect({ host: server.host, port: server.port, security: "verify", timeouts: quick })
        )
        assert.instanceOf(untrusted, UpstreamUnavailable)
        expect(untrusted.reason).toBe("tls")
        const wrongName = yield* Effect.flip(
          connect({
            host: server.host,
            port: server.port,
            security: "verify",
            tls: { ca: cert.pem, servername: "mx.elsewhere.test" },
            timeouts: quick
          })
        )
        assert.instanceOf(wrongName, UpstreamUnavailable)
        expect(wrongName.reason).toBe("tls")
      })
  )

  it.live("STARTTLS at the default level (may) takes any certificate; startTls: off stays plain", () =>
    Effect.gen(function* () {
      const cert = yield* certificate()
      const server = yield* aiosmtpd({ certificate: cert, startTls: true })
      const unchecked = yield* connect({ host: server.host, port: server.port })
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
