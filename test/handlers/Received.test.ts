// The Received: field (RFC 5321 §4.4, RFC 3848's protocol names, RFC 5322 dates and folding) on a
// fixed session and the TestClock, and the hop count over any chunking of a header.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { SessionInfo } from "../../src/handler/SessionInfo.js"
import * as Received from "../../src/handlers/Received.js"

const session: SessionInfo = {
  id: "abc-7",
  peer: { address: "192.0.2.7", port: 40123 },
  local: { address: "192.0.2.25", port: 25 },
  hostname: "mx.example.net",
  greeting: { name: "client.example.org", esmtp: true },
  envelope: undefined,
  secure: false
}

// Sun, 06 Dec 2026 23:40:00 +0000
const december = Date.UTC(2026, 11, 6, 23, 40, 0)

const encode = (text: string) => new TextEncoder().encode(text)

describe("Received", () => {
  it.effect("builds the field with the Clock's date, folded under 78 characters", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(december)
      const field = yield* Received.make(session, ["b@example.net"], "abc-7.1")
      expect(field).toBe(
        "Received: from client.example.org ([192.0.2.7]) by mx.example.net with ESMTP\r\n" +
          "\tid abc-7.1 for <b@example.net>; Sun, 06 Dec 2026 23:40:00 +0000\r\n"
      )
      for (const line of field.split("\r\n")) expect(line.length).toBeLessThanOrEqual(78)
    })
  )

  it("names the protocol as RFC 3848 does", () => {
    const ehlo = { name: "c.test", esmtp: true }
    const cases: ReadonlyArray<[Partial<SessionInfo>, string]> = [
      [{ greeting: { name: "c.test", esmtp: false } }, "SMTP"],
      [{ greeting: { name: "c.test", esmtp: false }, secure: true }, "SMTP"],
      [{ greeting: ehlo }, "ESMTP"],
      [{ greeting: ehlo, secure: true }, "ESMTPS"],
      [{ greeting: ehlo, auth: "alice" }, "ESMTPA"],
      [{ greeting: ehlo, secure: true, auth: "alice" }, "ESMTPSA"],
      [{ greeting: ehlo, protocol: "smtp" }, "ESMTP"],
      [{ greeting: ehlo, protocol: "lmtp" }, "LMTP"],
      [{ greeting: ehlo, protocol: "lmtp", secure: true, auth: "alice" }, "LMTPSA"]
    ]
    for (const [change, name] of cases)
      expect([change, Received.protocolOf({ ...session, ...change })]).toEqual([change, name])
  })

  it("writes RFC 5322 dates in UTC", () => {
    expect(Received.formatDate(december)).toBe("Sun, 06 Dec 2026 23:40:00 +0000")
    expect(Received.formatDate(0)).toBe("Thu, 01 Jan 1970 00:00:00 +0000")
    expect(Received.formatDate(Date.UTC(2024, 1, 29, 7, 5, 9))).toBe("Thu, 29 Feb 2024 07:05:09 +0000")
  })

  it("writes IPv6 as IPv6: literals, mapped IPv4 as IPv4, and no literal for a Unix socket", () => {
    expect(Received.addressLiteral("2001:db8::1")).toBe("[IPv6:2001:db8::1]")
    expect(Received.addressLiteral("fe80::1%eth0")).toBe("[IPv6:fe80::1]")
    expect(Received.addressLiteral("::ffff:192.0.2.1")).toBe("[192.0.2.1]")
    expect(Received.addressLiteral("unix:/run/lmtp.sock")).toBeUndefined()
    const format = (peer: string) =>
      Received.format({ session: { ...session, peer: { address: peer, port: 0 } }, recipients: [], id: "i", date: 0 })
    expect(format("::1")).toMatch(/^Received: from client\.example\.org \(\[IPv6:::1\]\) by /)
    expect(format("unix:/run/lmtp.sock")).toMatch(/^Received: from client\.example\.org by mx\.example\.net /)
  })

  it("names the recipient only when there is one, and says unknown without a greeting", () => {
    const format = (recipients: ReadonlyArray<string>, greeting: SessionInfo["greeting"] = session.greeting) =>
      Received.format({ session: { ...session, greeting }, recipients, id: "i", date: 0 }).replaceAll("\r\n\t", " ")
    expect(format(["a@x.test"])).toContain(" id i for <a@x.test>; Thu, 01 Jan 1970")
    expect(format(["a@x.test", "b@x.test"])).toContain(" id i; Thu, 01 Jan 1970")
    expect(format([])).not.toContain(" for ")
    expect(Received.format({ session: { ...session, greeting: undefined }, recipients: [], id: "i", date: 0 })).toMatch(
      /^Received: from unknown \(\[192\.0\.2\.7\]\) by .* with SMTP /
    )
  })

  it("keeps what a client says from breaking the field, and stays within maxLength", () => {
    const hostile = `evil\r\nX-Injected: yes (a); b <c> ${"x".repeat(600)}`
    const field = Received.format({
      session: { ...session, greeting: { name: hostile, esmtp: true }, hostname: "h".repeat(400) },
      recipients: [`${"r".repeat(250)}@x.test`],
      id: "i".repeat(100),
      date: december
    })
    expect(
      field
        .split("\r\n")
        .slice(1, -1)
        .every((line) => line.startsWith("\t"))
    ).toBe(true)
    expect(field).not.toContain("X-Injected: ")
    // the HELO name is one token, cut to 255 octets, with nothing that opens a comment or ends a clause
    const helo = /^Received: from (\S+)/.exec(field)?.[1]
    expect(helo?.length).toBe(255)
    expect(helo).toMatch(/^evil\?\?X-Injected:\?yes\?\?a\?\?\?b\?\?c\?\?x+$/)
    expect(field.length).toBeLessThanOrEqual(Received.maxLength)
  })

  it.effect("gives each transaction its own id", () =>
    Effect.sync(() => {
      const ids = new Set(Array.from({ length: 100 }, () => Received.id(session)))
      expect(ids.size).toBe(100)
      for (const id of ids) expect(id.startsWith("abc-7.")).toBe(true)
    })
  )

  it.effect("prepends the field to a body, which streams on unchanged", () =>
    Effect.gen(function* () {
      const body = Stream.make(encode("Subject: x\r\n"), encode("\r\nhi\r\n"))
      const out = yield* Stream.runCollect(Received.prepend(body, "Received: test\r\n"))
      expect(out.map((chunk) => new TextDecoder().decode(chunk))).toEqual([
        "Received: test\r\n",
        "Subject: x\r\n",
        "\r\nhi\r\n"
      ])
    })
  )
})

// `count` Received: fields (spelled in varied case), other fields, then a body that mentions more
const header = (count: number) =>
  Array.from(
    { length: count },
    (_, i) => `${i % 2 === 0 ? "Received" : "RECEIVED"}: from h${i}\r\n\tby h${i + 1}; x\r\n`
  ).join("") +
  "X-Received: not one\r\nSubject: Received: neither\r\n\r\n" +
  "Received: in the body, not counted\r\n".repeat(10)

// the text cut at `cuts` positions: every chunking must count alike
const chunked = (text: string, cuts: ReadonlyArray<number>) => {
  const at = [0, ...[...cuts].sort((a, b) => a - b), text.length]
  return Stream.fromIterable(at.slice(1).map((end, i) => encode(text.slice(at[i], end))))
}

describe("Received.limitHops", () => {
  it.effect("passes a message with max fields, refuses one with more (554 5.4.6), whatever the chunks", () =>
    Effect.gen(function* () {
      for (const cuts of [[], [1], [3, 9, 10, 11], Array.from({ length: 60 }, (_, i) => i * 7 + 1)]) {
        const fits = yield* Stream.runCollect(Received.limitHops(chunked(header(5), cuts), 5))
        expect(new TextDecoder().decode(Buffer.concat(fits))).toBe(header(5))
        const error = yield* Effect.flip(Stream.runDrain(Received.limitHops(chunked(header(6), cuts), 5)))
        expect([error.code, error.enhanced, error.text]).toEqual([
          554,
          "5.4.6",
          "Too many hops (6 Received: fields): mail loop suspected"
        ])
      }
    })
  )

  it.effect("stops at the end of the header: fields in the body are not counted, a bare LF ends it too", () =>
    Effect.gen(function* () {
      const body = `Subject: x\r\n\r\n${"Received: quoted\r\n".repeat(100)}`
      expect((yield* Stream.runCollect(Received.limitHops(chunked(body, [5, 20]), 1))).length).toBe(3)
      const lf = `Subject: x\n\n${"Received: quoted\n".repeat(100)}`
      yield* Stream.runDrain(Received.limitHops(chunked(lf, []), 1))
      // no header at all: the message starts with the empty line
      yield* Stream.runDrain(Received.limitHops(chunked(`\r\n${"Received: x\r\n".repeat(5)}`, []), 0))
    })
  )
})
