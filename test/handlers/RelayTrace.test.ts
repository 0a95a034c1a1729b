// The relay's part of issue 14, against aiosmtpd and scripted upstreams: the hop count that stops
// mail loops (and the upstream transaction it aborts), the SIZE a server in front of the relay
// advertises, enhanced status codes on every relayed reply; the hop count in queue mode too.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Relay from "../../src/handlers/Relay.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import { skipWithout } from "../utils/tools.js"
import {
  behave,
  eventually,
  greet,
  type Listening,
  ourReceived,
  peelReceived,
  plainUpstream,
  quick,
  sendOne,
  smtplib,
  text,
  type Transaction,
  withHandler,
  withQueuedRelay
} from "../utils/relay.js"
import { fakeUpstream, freePort } from "../utils/upstreams.js"
import { logTo } from "../utils/logs.js"

type RelayOptions = Omit<Relay.Options, "upstream">

const relayOptions = (upstream: Listening, options: RelayOptions): Relay.Options => ({
  ...options,
  upstream: { host: upstream.host, port: upstream.port, startTls: "off", timeouts: quick }
})

// forward, or queue mode on a queue of its own with its delivery running
const relayTo = (upstream: Listening, options: RelayOptions = {}) =>
  options.mode === "queue"
    ? withQueuedRelay(relayOptions(upstream, options))
    : withHandler(Relay.layer(relayOptions(upstream, options)))

const plain = "Subject: hello\r\n\r\nHello.\r\n"

// `count` Received: fields, then a message
const hops = (count: number, filler = "") =>
  Array.from(
    { length: count },
    (_, i) => `Received: from hop${i}.test by hop${i + 1}.test; Thu, 01 Jan 2026 00:00:00 +0000\r\n`
  ).join("") +
  filler +
  "Subject: loop\r\n\r\nround and round\r\n"

// a message of exactly `size` octets (no line starts with a dot: aiosmtpd counts stuffed octets)
const sized = (size: number) => {
  const head = "Subject: size\r\n\r\n"
  const line = `${"x".repeat(78)}\r\n`
  const body = line.repeat(Math.floor((size - head.length) / line.length))
  const rest = size - head.length - body.length
  return head + body + (rest >= 2 ? `${"y".repeat(rest - 2)}\r\n` : "")
}

describe.skipIf(skipWithout("python3", "aiosmtpd"))("Relay to an upstream whose replies carry no x.y.z", () => {
  it.live("gives every relayed reply an enhanced status code derived from its class", () =>
    Effect.gen(function* () {
      const upstream = yield* plainUpstream(0)
      const relay = yield* relayTo(upstream)
      const ok = yield* sendOne(relay, "a@example.com", ["b@example.net", "refuse-me@example.net"], plain)
      expect(ok.data).toEqual([250, "2.0.0 OK: queued as Q1"])
      expect(ok.rcpt["refuse-me@example.net"]).toEqual([550, "5.0.0 No such user here"])
      const rejected = yield* sendOne(relay, "reject@example.com", ["b@example.net"], plain)
      expect(rejected.data).toEqual([554, "5.0.0 Transaction failed"])
    })
  )
})

describe.skipIf(skipWithout("python3", "aiosmtpd"))("Relay and mail loops", () => {
  for (const mode of ["forward", "queue"] as const) {
    it.live(`refuses more than maxReceived Received: fields with 554 5.4.6, takes maxReceived (${mode})`, () =>
      Effect.gen(function* () {
        const upstream = yield* plainUpstream(0)
        const relay = yield* relayTo(upstream, { mode, maxReceived: 5 })
        const looping = yield* sendOne(relay, "a@example.com", ["b@example.net"], hops(6))
        expect(looping.data).toEqual([554, "5.4.6 Too many hops (6 Received: fields): mail loop suspected"])
        const fine = yield* sendOne(relay, "a@example.com", ["b@example.net"], hops(5))
        expect(fine.data?.[0]).toBe(250)
        // only the second reached the upstream (queued: once delivered): ours, X-Peer, its own five
        const stored = yield* eventually(upstream.stored, (s) => s.length > 0, "10 seconds")
        expect(stored).toHaveLength(1)
        const { received, rest } = peelReceived(text(stored[0]!))
        expect(received).toEqual([ourReceived({ by: "relay.test", for: "b@example.net" })])
        expect(rest).toBe(`X-Peer: 127.0.0.1\r\n${hops(5)}`)
      })
    )
  }

  it.live("counts the default 50, and aborts the upstream transaction it had started (never the final dot)", () =>
    Effect.gen(function* () {
      const bodies: Array<string> = []
      const upstream = yield* fakeUpstream((peer) => Effect.andThen(greet(peer), behave(peer, bodies)))
      const relay = yield* relayTo(upstream)
      // 100 KB of other fields first: the upstream has part of the message when the 51st field comes
      const filler = `X-Filler: ${"f".repeat(900)}\r\n`.repeat(110)
      const looping = yield* sendOne(relay, "a@example.com", ["b@example.net"], filler + hops(51))
      expect(looping.data?.[0]).toBe(554)
      const next = yield* sendOne(relay, "a@example.com", ["b@example.net"], hops(50))
      expect(next.data?.[0]).toBe(250)
      const [first, second] = yield* upstream.received
      expect(first).toContain("DATA\r\n")
      expect(first).toContain("X-Filler: ")
      expect(first!.includes("\r\n.\r\n")).toBe(false)
      expect(first!.includes("QUIT")).toBe(false)
      expect(second).toContain("\r\n.\r\n")
      expect(bodies).toHaveLength(1)
    })
  )
})

describe.skipIf(skipWithout("python3", "aiosmtpd"))("Relay and SIZE", () => {
  it.live("a message of exactly the SIZE advertised in front of the relay fits the upstream's SIZE", () =>
    Effect.gen(function* () {
      const limit = 20_000
      const upstream = yield* plainUpstream(limit)
      const options = {
        upstream: { host: upstream.host, port: upstream.port, startTls: "off" as const, timeouts: quick }
      }
      const upstreamSize = yield* Relay.probeSize(options.upstream).pipe(Effect.provide(NodeSmtpClient.layer))
      expect(upstreamSize).toBe(limit)
      const advertised = Relay.advertisedSize(options, 0, upstreamSize)
      expect(advertised).toBe(limit - Relay.headroom(options))
      const relay = yield* withHandler(Relay.layer(options), { maxMessageSize: advertised })
      const [size, exact, over] = yield* smtplib<[string, Transaction, Transaction]>(
        relay,
        `s = connect()
s.ehlo()
size = s.esmtp_features["size"]
exact = transaction(s, "a@example.com", ["b@example.net"], body=message, mail_options=["SIZE=${advertised}"])
over = transaction(s, "a@example.com", ["b@example.net"], body=message.replace(b"size", b"sizes", 1))
report([size, exact, over])
s.quit()`,
        sized(advertised)
      )
      expect(size).toBe(String(advertised))
      expect([exact.mail, exact.data]).toEqual([
        [250, "2.1.0 Ok"],
        [250, "2.0.0 OK: queued as Q1"]
      ])
      expect(over.data).toEqual([552, "5.3.4 Message size exceeds fixed maximum message size"])
      const [stored] = yield* upstream.stored
      expect(peelReceived(text(stored!)).rest).toBe(`X-Peer: 127.0.0.1\r\n${sized(advertised)}`)
      expect(stored!.length).toBeLessThanOrEqual(limit)

      // what the bug was: advertising the upstream's own SIZE lets through a message it refuses
      const naive = yield* withHandler(Relay.layer(options), { maxMessageSize: limit })
      const refused = yield* sendOne(naive, "a@example.com", ["b@example.net"], sized(limit))
      expect(refused.data?.[0]).toBe(552)
    })
  )
})

describe("Relay.probeSize with nothing listening", () => {
  it.live("says so on one line, what failed and what it does instead, and gives no limit", () => {
    const lines: Array<string> = []
    return Effect.gen(function* () {
      const port = yield* freePort
      const size = yield* Relay.probeSize({ host: "127.0.0.1", port, timeouts: quick }).pipe(
        Effect.provide(NodeSmtpClient.layer)
      )
      expect(size).toBeUndefined()
      const warned = lines.filter((line) => line.startsWith("upstream SIZE unknown"))
      expect(warned).toHaveLength(1)
      expect(warned[0]).toMatch(
        /^upstream SIZE unknown \(connect: 127\.0\.0\.1: .*ECONNREFUSED.*\); advertising our own limit$/
      )
      expect(warned[0]).not.toContain("\n")
    }).pipe(Effect.provide(logTo(lines)))
  })
})
