// The relay's part of issue 14, against aiosmtpd and scripted upstreams: the hop count that stops
// mail loops (and the upstream transaction it aborts), the SIZE a server in front of the relay
// advertises, enhanced status codes on every relayed reply, and per-recipient answers for LMTP.
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as MessageHandler from "../../src/handler/MessageHandler.js"
import * as Verdicts from "../../src/handler/Verdicts.js"
import * as Relay from "../../src/handlers/Relay.js"
import * as NodeSmtpClient from "../../src/node/NodeSmtpClient.js"
import * as Reply from "../../src/protocol/Reply.js"
import { skipWithout } from "../utils/tools.js"
import {
  behave,
  collectRefusals,
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
  withHandler
} from "../utils/relay.js"
import { fakeUpstream } from "../utils/upstreams.js"

type RelayOptions = Omit<Relay.Options, "upstream">

const relayTo = (upstream: Listening, options: RelayOptions = {}) =>
  withHandler(
    Relay.layer({
      ...options,
      upstream: { host: upstream.host, port: upstream.port, startTls: "off", timeouts: quick }
    })
  )

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
  for (const mode of ["forward", "spool"] as const) {
    it.live(`gives every relayed reply an enhanced status code derived from its class (${mode})`, () =>
      Effect.gen(function* () {
        const upstream = yield* plainUpstream(0)
        const { onRefused, refusals } = yield* collectRefusals
        const relay = yield* relayTo(upstream, { mode, onRefused })
        const ok = yield* sendOne(relay, "a@example.com", ["b@example.net", "refuse-me@example.net"], plain)
        expect(ok.data).toEqual([250, "2.0.0 OK: queued as Q1"])
        if (mode === "forward") expect(ok.rcpt["refuse-me@example.net"]).toEqual([550, "5.0.0 No such user here"])
        else
          expect((yield* refusals)[0]?.recipients).toEqual([
            { address: "refuse-me@example.net", reply: "550 5.0.0 No such user here" }
          ])
        const rejected = yield* sendOne(relay, "reject@example.com", ["b@example.net"], plain)
        expect(rejected.data).toEqual([554, "5.0.0 Transaction failed"])
      })
    )
  }
})

describe.skipIf(skipWithout("python3", "aiosmtpd"))("Relay and mail loops", () => {
  for (const mode of ["forward", "spool"] as const) {
    it.live(`refuses more than maxReceived Received: fields with 554 5.4.6, takes maxReceived (${mode})`, () =>
      Effect.gen(function* () {
        const upstream = yield* plainUpstream(0)
        const relay = yield* relayTo(upstream, { mode, maxReceived: 5 })
        const looping = yield* sendOne(relay, "a@example.com", ["b@example.net"], hops(6))
        expect(looping.data).toEqual([554, "5.4.6 Too many hops (6 Received: fields): mail loop suspected"])
        const fine = yield* sendOne(relay, "a@example.com", ["b@example.net"], hops(5))
        expect(fine.data?.[0]).toBe(250)
        // only the second reached the upstream: ours, X-Peer, then its own five
        const stored = yield* upstream.stored
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

describe.skipIf(skipWithout("aiosmtpd"))("Relay to an LMTP client (spool)", () => {
  it.live("answers each recipient with the upstream's verdict for it", () =>
    Effect.gen(function* () {
      const upstream = yield* plainUpstream(0)
      const { onRefused, refusals } = yield* collectRefusals
      const handler = yield* MessageHandler.MessageHandler.pipe(
        Effect.provide(
          Relay.layer({
            mode: "spool",
            onRefused,
            upstream: { host: upstream.host, port: upstream.port, startTls: "off", timeouts: quick }
          }).pipe(Layer.provide(NodeSmtpClient.layer))
        )
      )
      const recipients = ["b@example.net", "refuse-me@example.net", "c@example.net"]
      const message = {
        envelope: {
          mailFrom: "a@example.com",
          mailParameters: [],
          mailOptions: { size: undefined, body: undefined, smtpUtf8: false, ret: undefined, envid: undefined },
          recipients: recipients.map((address) => ({ address, parameters: [] }))
        },
        body: Stream.make(new TextEncoder().encode(plain)),
        decodeData: false
      }
      const session = {
        id: "lmtp1",
        peer: { address: "127.0.0.1", port: 40000 },
        local: { address: "127.0.0.1", port: 24 },
        hostname: "relay.test",
        greeting: { name: "client.test", esmtp: true },
        envelope: message.envelope,
        secure: false,
        protocol: "lmtp" as const
      }
      const answer = yield* handler.data(session, message)
      assert(Verdicts.isPerRecipient(answer))
      expect(Verdicts.replies(answer, 3).map((reply) => Reply.encode(reply, true))).toEqual([
        "250 2.0.0 OK: queued as Q1\r\n",
        "550 5.0.0 No such user here\r\n",
        "250 2.0.0 OK: queued as Q1\r\n"
      ])
      // the client was told: nothing refused after a 250
      expect(yield* refusals).toEqual([])
      const smtp = yield* handler.data(
        { ...session, protocol: "smtp" },
        { ...message, body: Stream.make(new TextEncoder().encode(plain)) }
      )
      expect(smtp instanceof Reply.Reply ? Reply.encode(smtp, true) : smtp).toBe("250 2.0.0 OK: queued as Q2\r\n")
      expect((yield* refusals).map((r) => r.recipients)).toEqual([
        [{ address: "refuse-me@example.net", reply: "550 5.0.0 No such user here" }]
      ])
    })
  )
})
