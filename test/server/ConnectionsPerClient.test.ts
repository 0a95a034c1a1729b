// maxConnectionsPerClient: one client (an IPv4 address, an IPv6 /64) gets so many sessions, the
// next connection gets 421 and no session; trustedNetworks are exempt.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Recording from "../../src/handlers/Recording.js"
import { SmtpTest } from "../../src/testing/index.js"
import { now } from "../utils/clock.js"
import { code, command } from "../utils/conversation.js"

// waits (without moving any clock) until `effect` gives a value `ok` accepts
const settled = <A>(effect: Effect.Effect<A>, ok: (a: A) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      const value = yield* effect
      if (ok(value)) return value
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error("never settled"))
  })

describe("connections per client", () => {
  const at = (address: string) => ({ address, port: 40000 })
  // a connection that is greeted (220) or refused (421 and closed)
  const attempt = (server: SmtpTest.TestServer, address: string) =>
    Effect.gen(function* () {
      const client = yield* server.connectWith({ remote: at(address) })
      const reply = yield* now(client.reply)
      return { client, reply }
    })
  const refused = (server: SmtpTest.TestServer, address: string) =>
    Effect.gen(function* () {
      const { client, reply } = yield* attempt(server, address)
      expect(reply.code, `${address} should be refused`).toBe(421)
      expect(reply.lines[0]).toContain("Too many connections")
      yield* client.awaitClose
      expect(yield* client.output).not.toContain("220")
    })
  const admitted = (server: SmtpTest.TestServer, address: string) =>
    Effect.gen(function* () {
      const { client, reply } = yield* attempt(server, address)
      expect(reply.code, `${address} should be admitted`).toBe(220)
      return client
    })

  it.effect("the 3rd connection from one IPv4 address gets 421 and no session; others are served", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ maxConnectionsPerClient: 2 })
      const first = yield* admitted(server, "192.0.2.7")
      yield* admitted(server, "192.0.2.7")
      yield* refused(server, "192.0.2.7")
      // as an IPv4-mapped IPv6 address it is the same client
      yield* refused(server, "::ffff:192.0.2.7")
      expect(yield* server.active).toBe(2)
      yield* admitted(server, "192.0.2.8")
      // a slot comes free when a session ends
      expect(code(yield* command(first, "QUIT"))).toBe("221")
      yield* first.awaitClose
      yield* settled(server.active, (n) => n === 2)
      yield* Effect.yieldNow
      yield* admitted(server, "192.0.2.7")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("IPv6 addresses in one /64 share the limit; another /64 does not", () =>
    Effect.gen(function* () {
      const server = yield* SmtpTest.server({ maxConnectionsPerClient: 2 })
      yield* admitted(server, "2001:db8:1:2::1")
      yield* admitted(server, "2001:db8:1:2:ffff:ffff:ffff:fffe")
      yield* refused(server, "2001:db8:1:2:abcd::9")
      yield* refused(server, "2001:0DB8:0001:0002:0000:0000:0000:0003")
      yield* admitted(server, "2001:db8:1:3::1")
      yield* admitted(server, "2001:db8:1:3::2")
      yield* refused(server, "2001:db8:1:3::3")
    }).pipe(Effect.provide(Recording.layer))
  )

  it.effect("clients in trustedNetworks are exempt: loopback by default, or the networks given", () =>
    Effect.gen(function* () {
      const byDefault = yield* SmtpTest.server({ maxConnectionsPerClient: 2 })
      for (let i = 0; i < 4; i++) yield* admitted(byDefault, "127.0.0.1")
      for (let i = 0; i < 4; i++) yield* admitted(byDefault, "::1")
      const trusting = yield* SmtpTest.server({ maxConnectionsPerClient: 2, trustedNetworks: ["192.0.2.0/24"] })
      for (let i = 0; i < 4; i++) yield* admitted(trusting, "192.0.2.7")
      yield* admitted(trusting, "198.51.100.1")
      yield* admitted(trusting, "198.51.100.1")
      yield* refused(trusting, "198.51.100.1")
      // giving the list replaces the default: loopback is no longer trusted
      yield* admitted(trusting, "127.0.0.1")
      yield* admitted(trusting, "127.0.0.1")
      yield* refused(trusting, "127.0.0.1")
    }).pipe(Effect.provide(Recording.layer))
  )
})
