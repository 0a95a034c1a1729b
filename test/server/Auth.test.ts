// AUTH (RFC 4954) as an attacker meets it, in memory: each SASL mechanism driven the way a
// client drives it, the refusals that come before any exchange, the delay before each 535 and
// the close after too many, what the trace may show, and relaying for authenticated clients.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Crypto from "node:crypto"
import * as Authenticator from "../../src/auth/Authenticator.js"
import type * as SmtpClient from "../../src/client/SmtpClient.js"
import { SmtpClient as SmtpClientTag } from "../../src/client/SmtpClient.js"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Recording from "../../src/handlers/Recording.js"
import * as Relay from "../../src/handlers/Relay.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as SmtpError from "../../src/protocol/SmtpError.js"
import type * as ServerConfig from "../../src/server/ServerConfig.js"
import { SmtpTest } from "../../src/testing/index.js"
import type { TestClient } from "../../src/testing/TestTransport.js"
import { logTo } from "../utils/logs.js"

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
const unb64 = (text: string) => Buffer.from(text, "base64").toString("utf8")
const code = (reply: Reply.Reply) => `${reply.code}${reply.enhanced === undefined ? "" : ` ${reply.enhanced}`}`
const command = SmtpTest.command

const users = Authenticator.fromUsers({ alice: "secret" })
const alicePlain = b64("\0alice\0secret")

// a session after EHLO, encrypted from the start (implicit TLS) unless `plaintext`
const session = (options: ServerConfig.Options = {}, connection: { readonly plaintext?: boolean } = {}) =>
  Effect.gen(function* () {
    const server = yield* SmtpTest.server(options)
    const client = yield* server.connectWith({ secure: connection.plaintext !== true })
    expect((yield* client.reply).code).toBe(220)
    const ehlo = yield* command(client, "EHLO client.test")
    expect(ehlo.code).toBe(250)
    return { client, ehlo }
  })

const authLine = (ehlo: Reply.Reply) => ehlo.lines.find((line) => line.startsWith("AUTH"))

// records the session each MAIL and each message was given
const watching = () => {
  const seen: Array<SessionInfo> = []
  const layer = MessageHandler.layer({
    mail: (info) => Effect.sync(() => void seen.push(info)),
    data: (info, message) =>
      Effect.andThen(
        Stream.runDrain(message.body),
        Effect.sync(() => void seen.push(info))
      )
  })
  return { seen, layer }
}

// a wrong password: its 535 comes after authFailureDelay (1 second), so the clock moves
const failOnce = (client: TestClient, initialResponse = b64("\0alice\0wrong")) =>
  Effect.gen(function* () {
    yield* client.send(`AUTH PLAIN ${initialResponse}\r\n`)
    const reply = yield* Effect.forkChild(client.reply)
    yield* TestClock.adjust("1 second")
    return yield* Fiber.join(reply)
  })

describe("AUTH mechanisms", () => {
  it.effect("PLAIN with an initial response: 235 2.7.0, and the handler sees the identity and the TLS session", () => {
    const { layer, seen } = watching()
    return Effect.gen(function* () {
      const { client, ehlo } = yield* session()
      expect(authLine(ehlo)).toBe("AUTH PLAIN LOGIN CRAM-MD5")
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
      expect(code(yield* command(client, "MAIL FROM:<alice@example.com>"))).toBe("250 2.1.0")
      expect(seen).toHaveLength(1)
      expect(seen[0]!.auth).toBe("alice")
      expect(seen[0]!.secure).toBe(true)
      expect(seen[0]!.tls?.protocol).toBe("TLSv1.3")
    }).pipe(Effect.provide(Layer.merge(layer, users)))
  })

  it.effect("PLAIN without an initial response: an empty 334, then the answer", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      const challenge = yield* command(client, "AUTH PLAIN")
      expect(challenge.code).toBe(334)
      expect(challenge.lines).toEqual([""])
      expect(code(yield* command(client, alicePlain))).toBe("235 2.7.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("PLAIN with `=` (present and empty), an empty user or an empty password: 501 5.5.2, never 235", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect(code(yield* command(client, "AUTH PLAIN ="))).toBe("501 5.5.2")
      expect(code(yield* command(client, `AUTH PLAIN ${b64("\0\0secret")}`))).toBe("501 5.5.2")
      expect(code(yield* command(client, `AUTH PLAIN ${b64("\0alice\0")}`))).toBe("501 5.5.2")
      expect(code(yield* command(client, `AUTH PLAIN ${b64("alice\0secret")}`))).toBe("501 5.5.2")
      // still not authenticated: AUTH is allowed again and works
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("PLAIN for someone else (an authorization identity other than the user) is refused", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect(code(yield* failOnce(client, b64("bob\0alice\0secret")))).toBe("535 5.7.8")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("LOGIN step by step: Username:, Password:, then 235; and with the user as initial response", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      const first = yield* command(client, "AUTH LOGIN")
      expect(first.code).toBe(334)
      expect(unb64(first.lines[0]!)).toBe("Username:")
      const second = yield* command(client, b64("alice"))
      expect(second.code).toBe(334)
      expect(unb64(second.lines[0]!)).toBe("Password:")
      expect(code(yield* command(client, b64("secret")))).toBe("235 2.7.0")

      const other = yield* session()
      const prompt = yield* command(other.client, `AUTH LOGIN ${b64("alice")}`)
      expect(unb64(prompt.lines[0]!)).toBe("Password:")
      expect(code(yield* command(other.client, b64("secret")))).toBe("235 2.7.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("CRAM-MD5 computed like a client: a fresh <nonce@host> challenge each time, HMAC-MD5 answer", () =>
    Effect.gen(function* () {
      const challenges: Array<string> = []
      for (let i = 0; i < 2; i++) {
        const { client } = yield* session()
        const reply = yield* command(client, "AUTH CRAM-MD5")
        expect(reply.code).toBe(334)
        const challenge = unb64(reply.lines[0]!)
        expect(challenge).toMatch(/^<[^@<>]+@test\.invalid>$/)
        challenges.push(challenge)
        const digest = Crypto.createHmac("md5", "secret").update(challenge).digest("hex")
        expect(code(yield* command(client, b64(`alice ${digest}`)))).toBe("235 2.7.0")
      }
      expect(challenges[0]).not.toBe(challenges[1])

      // a digest made with the wrong password, or an initial response, never passes
      const { client } = yield* session()
      const reply = yield* command(client, "AUTH CRAM-MD5")
      const wrong = Crypto.createHmac("md5", "guess").update(unb64(reply.lines[0]!)).digest("hex")
      yield* client.send(`${b64(`alice ${wrong}`)}\r\n`)
      const refused = yield* Effect.forkChild(client.reply)
      yield* TestClock.adjust("1 second")
      expect(code(yield* Fiber.join(refused))).toBe("535 5.7.8")
      expect(code(yield* command(client, `AUTH CRAM-MD5 ${b64("alice 0123")}`))).toBe("501 5.5.2")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("XOAUTH2 is not offered by fromUsers: 504 5.5.4, even with a well-formed token", () =>
    Effect.gen(function* () {
      const { client, ehlo } = yield* session()
      expect(authLine(ehlo)).not.toContain("XOAUTH2")
      const token = b64("user=alice\x01auth=Bearer secret\x01\x01")
      expect(code(yield* command(client, `AUTH XOAUTH2 ${token}`))).toBe("504 5.5.4")
      expect(code(yield* command(client, "AUTH NTLM"))).toBe("504 5.5.4")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("mechanism names are case-insensitive", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect(code(yield* command(client, `auth plain ${alicePlain}`))).toBe("235 2.7.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )
})

describe("AUTH exchanges that go wrong", () => {
  it.effect("`*` cancels with 501 5.0.0; the session is not authenticated and AUTH may start again", () =>
    Effect.gen(function* () {
      const { client } = yield* session({ requireAuth: true })
      expect((yield* command(client, "AUTH LOGIN")).code).toBe(334)
      expect((yield* command(client, b64("alice"))).code).toBe(334)
      expect(code(yield* command(client, "*"))).toBe("501 5.0.0")
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("530 5.7.0")
      expect((yield* command(client, "AUTH PLAIN")).code).toBe(334)
      expect(code(yield* command(client, "*"))).toBe("501 5.0.0")
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect(
    "an Authenticator that fails with an SmtpError: that reply, not a failed attempt (no delay, no close)",
    () => {
      let calls = 0
      const storeDown = Layer.succeed(Authenticator.Authenticator, {
        mechanisms: ["PLAIN"],
        authenticate: () =>
          ++calls <= 3
            ? Effect.fail(new SmtpError.Custom({ code: 454, enhanced: "4.7.0", text: "User store unavailable" }))
            : Effect.succeed(Option.some("alice"))
      })
      return Effect.gen(function* () {
        const { client } = yield* session()
        for (let i = 0; i < 3; i++) {
          const reply = yield* command(client, `AUTH PLAIN ${alicePlain}`)
          expect([code(reply), reply.lines]).toEqual(["454 4.7.0", ["User store unavailable"]])
        }
        // three failed attempts would have closed the connection: these were not
        expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
      }).pipe(Effect.provide(Layer.merge(Recording.layer, storeDown)))
    }
  )

  it.effect("an answer that is not base64: 501 5.5.2, and the session goes on", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect((yield* command(client, "AUTH PLAIN")).code).toBe(334)
      expect(code(yield* command(client, "!!not base64!!"))).toBe("501 5.5.2")
      expect((yield* command(client, "AUTH LOGIN")).code).toBe(334)
      expect(code(yield* command(client, "YWxp Y2U="))).toBe("501 5.5.2")
      expect(code(yield* command(client, "NOOP"))).toBe("250 2.0.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("an answer that looks like a command is only an answer: never executed, never 250", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect((yield* command(client, "AUTH LOGIN")).code).toBe(334)
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("501 5.5.2")
      // had MAIL been run, this one would be "503 nested MAIL"
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )
})

describe("AUTH and TLS", () => {
  it.effect("before TLS AUTH is not offered and gets 538 5.7.11; authInsecure offers and accepts it", () =>
    Effect.gen(function* () {
      const plain = yield* session({ startTls: true }, { plaintext: true })
      expect(plain.ehlo.lines).toContain("STARTTLS")
      expect(authLine(plain.ehlo)).toBeUndefined()
      expect(code(yield* command(plain.client, `AUTH PLAIN ${alicePlain}`))).toBe("538 5.7.11")
      expect(code(yield* command(plain.client, "AUTH LOGIN"))).toBe("538 5.7.11")

      const insecure = yield* session({ startTls: true, authInsecure: true }, { plaintext: true })
      expect(authLine(insecure.ehlo)).toBe("AUTH PLAIN LOGIN CRAM-MD5")
      expect(code(yield* command(insecure.client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("AUTH is offered after STARTTLS (simulated handshake), STARTTLS no longer is", () => {
    const { layer, seen } = watching()
    return Effect.gen(function* () {
      const { client } = yield* session({ startTls: true }, { plaintext: true })
      expect(code(yield* command(client, "STARTTLS"))).toBe("220 2.0.0")
      const ehlo = yield* command(client, "EHLO client.test")
      expect(authLine(ehlo)).toBe("AUTH PLAIN LOGIN CRAM-MD5")
      expect(ehlo.lines).not.toContain("STARTTLS")
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
      expect(seen[0]!.auth).toBe("alice")
      expect(seen[0]!.secure).toBe(true)
    }).pipe(Effect.provide(Layer.merge(layer, users)))
  })
})

describe("AUTH sequence", () => {
  it.effect("AUTH twice: 503", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("503 5.5.1")
      expect(code(yield* command(client, "AUTH LOGIN"))).toBe("503 5.5.1")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("AUTH during a mail transaction: 503; after RSET it is allowed", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("503 5.5.1")
      expect(code(yield* command(client, "RSET"))).toBe("250 2.0.0")
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("AUTH before EHLO, or after HELO: 503", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const client = yield* server.connectWith({ secure: true })
      yield* client.reply
      expect((yield* command(client, `AUTH PLAIN ${alicePlain}`)).code).toBe(503)
      expect((yield* command(client, "HELO client.test")).code).toBe(250)
      expect((yield* command(client, `AUTH PLAIN ${alicePlain}`)).code).toBe(503)
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("requireAuth: MAIL without AUTH gets 530 5.7.0; after AUTH, MAIL with AUTH=<> is accepted", () =>
    Effect.gen(function* () {
      const { client } = yield* session({ requireAuth: true })
      expect(code(yield* command(client, "MAIL FROM:<a@example.com>"))).toBe("530 5.7.0")
      expect(code(yield* command(client, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
      expect(code(yield* command(client, "MAIL FROM:<a@example.com> AUTH=<>"))).toBe("250 2.1.0")
      expect(code(yield* command(client, "RCPT TO:<b@example.com>"))).toBe("250 2.1.5")
      expect((yield* command(client, "DATA")).code).toBe(354)
      expect(code(yield* command(client, "Subject: hi\r\n\r\nhello\r\n."))).toBe("250 2.0.0")
      const deliveries = yield* Recording.deliveries
      expect(deliveries).toHaveLength(1)
      expect(deliveries[0]!.envelope.mailParameters).toEqual([{ keyword: "AUTH", value: "<>" }])
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("requireAuth holds for a HELO client too, which cannot AUTH at all", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ requireAuth: true })
      const client = yield* server.connectWith({ secure: true })
      yield* client.reply
      yield* command(client, "HELO client.test")
      expect((yield* command(client, "MAIL FROM:<a@example.com>")).code).toBe(530)
      expect(yield* Recording.deliveries).toHaveLength(0)
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )
})

describe("guessing passwords", () => {
  it.effect("535 5.7.8 comes only after authFailureDelay (1 second), for a wrong password and an unknown user", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      for (const attempt of [b64("\0alice\0wrong"), b64("\0mallory\0secret")]) {
        const before = yield* client.output
        yield* client.send(`AUTH PLAIN ${attempt}\r\n`)
        const reply = yield* Effect.forkChild(client.reply)
        yield* TestClock.adjust("999 millis")
        expect(yield* client.output).toBe(before)
        assert(reply.pollUnsafe() === undefined)
        yield* TestClock.adjust("1 millis")
        expect(code(yield* Fiber.join(reply))).toBe("535 5.7.8")
      }
      expect((yield* client.output).match(/^535 /gm)).toHaveLength(2)
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("brute force: the 3rd failure gets 421 4.7.0 and the connection is closed", () =>
    Effect.gen(function* () {
      const { client } = yield* session()
      expect(code(yield* failOnce(client))).toBe("535 5.7.8")
      expect(yield* client.isClosed).toBe(false)
      expect(code(yield* failOnce(client, b64("\0alice\0secret2")))).toBe("535 5.7.8")
      expect(yield* client.isClosed).toBe(false)
      expect(code(yield* failOnce(client, b64("\0alice\0letmein")))).toBe("421 4.7.0")
      yield* client.awaitClose
      // the right password after that reaches nobody
      expect(yield* client.output).not.toContain("235")
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )

  it.effect("failures are counted across mechanisms; a cancel or malformed answer is not a guess", () =>
    Effect.gen(function* () {
      const { client } = yield* session({ maxAuthFailures: 2 })
      expect(code(yield* failOnce(client))).toBe("535 5.7.8")
      expect(code(yield* command(client, "AUTH PLAIN ="))).toBe("501 5.5.2")
      expect((yield* command(client, "AUTH LOGIN")).code).toBe(334)
      expect(code(yield* command(client, "*"))).toBe("501 5.0.0")
      expect((yield* command(client, "AUTH LOGIN")).code).toBe(334)
      expect((yield* command(client, b64("alice"))).code).toBe(334)
      yield* client.send(`${b64("guess")}\r\n`)
      const reply = yield* Effect.forkChild(client.reply)
      yield* TestClock.adjust("1 second")
      expect(code(yield* Fiber.join(reply))).toBe("421 4.7.0")
      yield* client.awaitClose
    }).pipe(Effect.provide(Layer.merge(Recording.layer, users)))
  )
})

describe("the trace", () => {
  it.effect("shows AUTH's initial response as ****, SASL answers not at all: no password, no payload", () => {
    const lines: Array<string> = []
    const secrets = ["secret", "hunter2", "alice", b64("\0alice\0hunter2"), b64("alice"), b64("secret"), alicePlain]
    return Effect.gen(function* () {
      const { client } = yield* session({ trace: true })
      expect(code(yield* failOnce(client, b64("\0alice\0hunter2")))).toBe("535 5.7.8")
      expect((yield* command(client, "AUTH LOGIN")).code).toBe(334)
      expect((yield* command(client, b64("alice"))).code).toBe(334)
      expect(code(yield* command(client, b64("secret")))).toBe("235 2.7.0")
      expect(code(yield* command(client, "QUIT"))).toBe("221 2.0.0")
      yield* client.awaitClose
      const trace = lines.join("\n")
      // the trace is on: commands and replies are there
      expect(trace).toContain("<<< EHLO client.test")
      expect(trace).toContain("<<< AUTH PLAIN ****")
      expect(trace).toContain("<<< AUTH LOGIN")
      expect(trace).toContain(">>> 235 2.7.0")
      for (const secret of secrets) expect(trace, `trace shows ${JSON.stringify(secret)}`).not.toContain(secret)
    }).pipe(Effect.provide(Layer.mergeAll(Recording.layer, users, logTo(lines))))
  })

  // Fails today: the answers are read as commands once AUTH is refused (538 here, the same after
  // 503 or 504), and each one is traced in full, the password with it. A client that does not
  // wait for 334 breaks RFC 4954, but the trace is where such clients get debugged.
  it.effect("answers pipelined behind a refused AUTH are dropped unread and untraced: they are credentials", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      const { client } = yield* session({ trace: true, startTls: true }, { plaintext: true })
      yield* client.send(`AUTH LOGIN\r\n${b64("alice")}\r\n${b64("secret")}\r\n`)
      // the answers behind the refusal are dropped unread: no reply to them, and the session goes on
      expect(code(yield* client.reply)).toBe("538 5.7.11")
      expect(code(yield* command(client, "NOOP"))).toBe("250 2.0.0")
      const trace = lines.join("\n")
      expect(trace).toContain("<<< AUTH LOGIN")
      expect(trace).not.toContain(b64("secret"))
      expect(trace).not.toContain(b64("alice"))
    }).pipe(Effect.provide(Layer.mergeAll(Recording.layer, users, logTo(lines))))
  })

  it.effect("a PLAIN answer after an empty 334 is not traced either", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      const { client } = yield* session({ trace: true })
      expect((yield* command(client, "AUTH PLAIN")).code).toBe(334)
      expect(code(yield* command(client, alicePlain))).toBe("235 2.7.0")
      const trace = lines.join("\n")
      expect(trace).toContain("<<< AUTH PLAIN")
      expect(trace).not.toContain(alicePlain)
      expect(trace).not.toContain("secret")
    }).pipe(Effect.provide(Layer.mergeAll(Recording.layer, users, logTo(lines))))
  })
})

// --- relay ------------------------------------------------------------------------------------

// An upstream that never touches the network: it accepts everything and keeps what it was given.
const fakeUpstream = () => {
  const calls: Array<string> = []
  const ok = (text: string) => Effect.sync(() => (calls.push(text), Reply.make(250, "2.0.0", "ok")))
  const recipients: Array<string> = []
  const data = <E, R>(body: Stream.Stream<Uint8Array, E, R>) =>
    Effect.flatMap(Stream.runCollect(body), (chunks) =>
      ok(`DATA ${chunks.map((c) => Buffer.from(c).toString("latin1")).join("")}`)
    )
  const connection: SmtpClient.Connection = {
    extensions: new Map(),
    secure: true,
    mail: (from, parameters = []) =>
      ok(`MAIL ${from}${parameters.map((p) => ` ${p.keyword}${p.value === undefined ? "" : `=${p.value}`}`).join("")}`),
    rcpt: (to) =>
      Effect.andThen(
        Effect.sync(() => recipients.push(to)),
        ok(`RCPT ${to}`)
      ),
    data,
    dataReplies: (body) => Effect.map(data(body), (reply) => recipients.map((address) => ({ address, reply }))),
    send: () => Effect.die(new Error("send is not used in forward mode")),
    rset: Effect.sync(() => void calls.push("RSET"))
  }
  const layer = Layer.succeed(SmtpClientTag, {
    connect: (options) => Effect.sync(() => (calls.push(`CONNECT ${options.host}:${options.port}`), connection))
  })
  return { calls, layer }
}

describe("relay after AUTH", () => {
  it.effect("an authenticated client outside relayNetworks may relay; an unauthenticated one gets 550 5.7.1", () => {
    const upstream = fakeUpstream()
    // (no Received: field, so that the upstream's copy is the message as sent, with smtpd's X-Peer)
    const relay = Relay.layer({ upstream: { host: "upstream.test", port: 25 }, received: false }).pipe(
      Layer.provide(upstream.layer)
    )
    return Effect.gen(function* () {
      const server = yield* SmtpTest.server()
      const remote = { address: "198.51.100.9", port: 40000 }

      // not authenticated, not in relayNetworks (loopback by default)
      const stranger = yield* server.connectWith({ remote, secure: true })
      yield* stranger.reply
      yield* command(stranger, "EHLO stranger.test")
      expect(code(yield* command(stranger, "MAIL FROM:<a@example.com>"))).toBe("250 2.1.0")
      expect(code(yield* command(stranger, "RCPT TO:<victim@example.net>"))).toBe("550 5.7.1")
      expect(code(yield* command(stranger, "DATA"))).toBe("554 5.5.1")
      expect(upstream.calls).toEqual([])

      // the same address, authenticated
      const member = yield* server.connectWith({ remote, secure: true })
      yield* member.reply
      yield* command(member, "EHLO member.test")
      expect(code(yield* command(member, `AUTH PLAIN ${alicePlain}`))).toBe("235 2.7.0")
      expect(code(yield* command(member, "MAIL FROM:<alice@example.com> AUTH=<>"))).toBe("250 2.1.0")
      expect(code(yield* command(member, "RCPT TO:<friend@example.net>"))).toBe("250 2.1.5")
      expect((yield* command(member, "DATA")).code).toBe(354)
      expect(code(yield* command(member, "Subject: relayed\r\n\r\nhello\r\n."))).toBe("250 2.0.0")
      expect(upstream.calls).toEqual([
        "CONNECT upstream.test:25",
        "MAIL alice@example.com AUTH=<>",
        "RCPT friend@example.net",
        "DATA X-Peer: 198.51.100.9\r\nSubject: relayed\r\n\r\nhello\r\n"
      ])
    }).pipe(Effect.provide(Layer.merge(relay, users)))
  })
})
