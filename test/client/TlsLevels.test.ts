// The client's TLS levels, named as Postfix names them, against our server with a self-signed
// certificate and with one from a CA the client is told to trust: `may` (the default) and
// `encrypt` deliver encrypted without checking the certificate, `verify` and `secure` check it,
// `none` never starts TLS; at `may` a failed handshake is followed by plain text on a new
// connection. The older `startTls` names map onto the levels.
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { UpstreamUnavailable } from "../../src/client/ClientError.js"
import type * as SmtpClient from "../../src/client/SmtpClient.js"
import * as TlsLevel from "../../src/client/TlsLevel.js"
import { ourServer } from "./ourServer.js"
import * as TestTls from "../utils/tls.js"
import { body, connect, envelope, quick } from "../utils/smtpClient.js"
import { fakeUpstream } from "../utils/upstreams.js"

// one message over a new connection at these settings: whether it was encrypted, and delivered
const deliver = (options: SmtpClient.Options) =>
  Effect.scoped(
    Effect.flatMap(connect({ timeouts: quick, ...options }), (connection) =>
      Effect.map(
        connection.send(envelope("a@example.com", "b@example.net"), body("Subject: x\r\n\r\nhi\r\n")),
        (result) => ({
          secure: connection.secure,
          code: result.reply.code
        })
      )
    )
  )

describe("TlsLevel.of", () => {
  it("is may unless told otherwise; the older startTls names map onto the levels", () => {
    expect(TlsLevel.of({})).toBe("may")
    expect(TlsLevel.of({ startTls: "off" })).toBe("none")
    expect(TlsLevel.of({ startTls: "opportunistic" })).toBe("may")
    expect(TlsLevel.of({ startTls: "required" })).toBe("verify")
    expect(TlsLevel.of({ startTls: "required", tls: { rejectUnauthorized: false } })).toBe("encrypt")
    expect(TlsLevel.of({ security: "secure", startTls: "off" })).toBe("secure")
    expect(TlsLevel.of({ security: "none", implicitTls: true })).toBe("encrypt")
  })
})

layer(TestTls.layer, { excludeTestServices: true })("TLS levels", (it) => {
  it.effect("against a self-signed certificate: may and encrypt deliver encrypted, verify and secure refuse", () =>
    Effect.gen(function* () {
      const certs = yield* TestTls.Certificates
      const self = yield* certs.issue("localhost", "self-signed", { selfSigned: true, ip: ["127.0.0.1"] })
      const upstream = yield* ourServer({ startTls: true, tls: { certFile: self.certFile, keyFile: self.keyFile } })
      const at = (security: TlsLevel.TlsLevel) =>
        deliver({ host: upstream.host, port: upstream.port, security, tls: { servername: "localhost" } })
      expect(yield* at("none")).toEqual({ secure: false, code: 250 })
      expect(yield* at("may")).toEqual({ secure: true, code: 250 })
      expect(yield* deliver({ host: upstream.host, port: upstream.port })).toEqual({ secure: true, code: 250 })
      expect(yield* at("encrypt")).toEqual({ secure: true, code: 250 })
      for (const level of ["verify", "secure"] as const) {
        const refused = yield* Effect.flip(at(level))
        assert.instanceOf(refused, UpstreamUnavailable)
        expect(refused.reason).toBe("tls")
      }
      // the older name for verify
      const required = yield* Effect.flip(
        deliver({ host: upstream.host, port: upstream.port, startTls: "required", tls: { servername: "localhost" } })
      )
      assert.instanceOf(required, UpstreamUnavailable)
      yield* upstream.settled
      expect(yield* upstream.deliveries).toHaveLength(4)
    })
  )

  it.effect("against a certificate from a trusted CA: verify and secure deliver; a wrong name is refused", () =>
    Effect.gen(function* () {
      const certs = yield* TestTls.Certificates
      const upstream = yield* ourServer({
        startTls: true,
        tls: { certFile: certs.localhost.certFile, keyFile: certs.localhost.keyFile }
      })
      const at = (security: TlsLevel.TlsLevel, servername: string) =>
        deliver({ host: upstream.host, port: upstream.port, security, tls: { ca: certs.ca.cert, servername } })
      expect(yield* at("verify", "localhost")).toEqual({ secure: true, code: 250 })
      expect(yield* at("secure", "localhost")).toEqual({ secure: true, code: 250 })
      const wrongName = yield* Effect.flip(at("secure", "mx.example.org"))
      assert.instanceOf(wrongName, UpstreamUnavailable)
      expect(wrongName.reason).toBe("tls")
    })
  )

  it.effect("may: a handshake that fails is followed by the message in plain text, on a new connection", () =>
    Effect.gen(function* () {
      let connections = 0
      const fake = yield* fakeUpstream((peer) =>
        Effect.gen(function* () {
          const first = connections++ === 0
          yield* peer.send("220 fake.test ESMTP\r\n")
          yield* peer.line
          yield* peer.send("250-fake.test\r\n250 STARTTLS\r\n")
          if (first) {
            yield* peer.line
            // 220, then bytes that are no TLS handshake
            yield* peer.send("220 2.0.0 Go ahead\r\nthis is not TLS\r\n")
            return yield* Effect.never
          }
          for (const reply of ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 Go ahead"]) {
            yield* peer.line
            yield* peer.send(`${reply}\r\n`)
          }
          yield* peer.until("\r\n.\r\n")
          yield* peer.send("250 2.0.0 Queued\r\n")
        })
      )
      expect(yield* deliver({ host: fake.host, port: fake.port })).toEqual({ secure: false, code: 250 })
      const [first, second] = yield* fake.received
      expect(first!.startsWith("EHLO localhost\r\nSTARTTLS\r\n")).toBe(true)
      expect(second).toMatch(/^EHLO localhost\r\nMAIL FROM:<a@example\.com>/)
      // encrypt does not fall back
      const refused = yield* Effect.flip(deliver({ host: fake.host, port: fake.port, security: "encrypt" }))
      assert.instanceOf(refused, UpstreamUnavailable)
      expect(refused.reason).toBe("tls")
    })
  )
})
