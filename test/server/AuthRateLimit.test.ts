import { describe, expect, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import * as Authenticator from "../../src/auth/Authenticator.js"
import * as Sink from "../../src/handlers/Sink.js"
import type * as Reply from "../../src/protocol/Reply.js"
import { AuthRateLimit } from "../../src/server/AuthRateLimit.js"
import * as Networks from "../../src/server/Networks.js"
import { SmtpTest } from "../../src/testing/index.js"

const limiter = (options: Partial<ConstructorParameters<typeof AuthRateLimit>[0]> = {}) =>
  new AuthRateLimit({
    attempts: 10,
    windowMs: 60_000,
    trusted: Result.getOrThrow(Networks.parseAll(Networks.loopback)),
    ...options
  })

describe("AuthRateLimit", () => {
  it("refuses a client with 10 failures in the last 60 s, until the oldest leaves the window", () => {
    const limit = limiter()
    for (let i = 0; i < 10; i++) {
      expect(limit.isRefused("192.0.2.7", i * 1000)).toBe(false)
      limit.failed("192.0.2.7", i * 1000)
    }
    expect(limit.isRefused("192.0.2.7", 10_000)).toBe(true)
    // another client is not affected
    expect(limit.isRefused("192.0.2.8", 10_000)).toBe(false)
    // the first failure (at 0) leaves the window at 60 s
    expect(limit.isRefused("192.0.2.7", 59_999)).toBe(true)
    expect(limit.isRefused("192.0.2.7", 60_000)).toBe(false)
  })

  it("counts an IPv6 /64 as one client, and never limits trusted networks", () => {
    const limit = limiter({ attempts: 2 })
    limit.failed("2001:db8:1:2::1", 0)
    limit.failed("2001:db8:1:2::ffff", 1)
    expect(limit.isRefused("2001:db8:1:2:abcd::9", 2)).toBe(true)
    expect(limit.isRefused("2001:db8:1:3::1", 2)).toBe(false)
    for (let i = 0; i < 5; i++) limit.failed("127.0.0.1", i)
    expect(limit.isRefused("127.0.0.1", 5)).toBe(false)
  })

  it("reports each failure, and takes a block decided elsewhere", () => {
    const reported: Array<string> = []
    const limit = limiter({ attempts: 3, onFailure: (key) => void reported.push(key) })
    limit.failed("192.0.2.7", 0)
    expect(reported).toEqual([Networks.clientKey("192.0.2.7")])
    limit.block(Networks.clientKey("198.51.100.1"), 5_000)
    expect(limit.isRefused("198.51.100.1", 4_999)).toBe(true)
    expect(limit.isRefused("198.51.100.1", 5_000)).toBe(false)
  })

  it("tells when a reported failure closes the door, and until when", () => {
    const limit = limiter({ attempts: 2, windowMs: 1000 })
    expect(limit.count("k", 100)).toBeUndefined()
    expect(limit.count("k", 300)).toBe(1100)
    // the failure at 100 has left the window by 1200: one failure in it, the door open
    expect(limit.count("k", 1200)).toBe(1300)
  })

  it("attempts 0 limits no one", () => {
    const limit = limiter({ attempts: 0 })
    for (let i = 0; i < 50; i++) limit.failed("192.0.2.7", i)
    expect(limit.isRefused("192.0.2.7", 50)).toBe(false)
  })
})

describe("AUTH rate limit across connections (Postfix's smtpd_client_auth_rate_limit)", () => {
  const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
  const code = (reply: Reply.Reply) => `${reply.code} ${reply.enhanced ?? ""}`.trim()
  const attempt = (server: SmtpTest.TestServer, address: string, password: string) =>
    Effect.gen(function* () {
      const client = yield* server.connectWith({ remote: { address, port: 40000 } })
      yield* client.reply
      yield* SmtpTest.command(client, "EHLO c")
      const reply = yield* SmtpTest.command(client, `AUTH PLAIN ${b64(`\0alice\0${password}`)}`)
      yield* client.send("QUIT\r\n")
      return code(reply)
    })

  it.effect("twenty connections, one wrong password each: from the eleventh on 454 4.7.0, the right password too", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ authInsecure: true, authFailureDelay: 0 })
      const replies: Array<string> = []
      for (let i = 0; i < 20; i++) replies.push(yield* attempt(server, "192.0.2.9", "wrong"))
      expect(replies.slice(0, 10)).toEqual(Array(10).fill("535 5.7.8"))
      expect(replies.slice(10)).toEqual(Array(10).fill("454 4.7.0"))
      expect(yield* attempt(server, "192.0.2.9", "secret")).toBe("454 4.7.0")
      // another client, and the trusted loopback, are not held back
      expect(yield* attempt(server, "192.0.2.10", "secret")).toBe("235 2.7.0")
      for (let i = 0; i < 12; i++) yield* attempt(server, "127.0.0.1", "wrong")
      expect(yield* attempt(server, "127.0.0.1", "secret")).toBe("235 2.7.0")
      // the window passes: the door opens again
      yield* TestClock.adjust("61 seconds")
      expect(yield* attempt(server, "192.0.2.9", "secret")).toBe("235 2.7.0")
    }).pipe(Effect.provide(Authenticator.fromUsers({ alice: "secret" })), Effect.provide(Sink.layer))
  )

  it.effect("trustedNetworks [] trusts no one; authRateLimit sets the count and the window", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({
        authInsecure: true,
        authFailureDelay: 0,
        trustedNetworks: [],
        authRateLimit: { attempts: 2, window: "10 seconds" }
      })
      expect(yield* attempt(server, "127.0.0.1", "wrong")).toBe("535 5.7.8")
      expect(yield* attempt(server, "127.0.0.1", "wrong")).toBe("535 5.7.8")
      expect(yield* attempt(server, "127.0.0.1", "secret")).toBe("454 4.7.0")
      yield* TestClock.adjust("11 seconds")
      expect(yield* attempt(server, "127.0.0.1", "secret")).toBe("235 2.7.0")
    }).pipe(Effect.provide(Authenticator.fromUsers({ alice: "secret" })), Effect.provide(Sink.layer))
  )
})
