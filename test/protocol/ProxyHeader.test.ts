import { assert, describe, expect, it } from "@effect/vitest"
import * as FastCheck from "fast-check"
import * as Net from "node:net"
import * as ProxyHeader from "../../src/protocol/ProxyHeader.js"
import { itProp } from "../utils/property.js"

// The sender's side, written from proxy-protocol.txt independently of the module under test

const latin1 = (text: string) => Uint8Array.from(Buffer.from(text, "latin1"))
const concat = (...parts: ReadonlyArray<Uint8Array | string>) =>
  Uint8Array.from(Buffer.concat(parts.map((part) => (typeof part === "string" ? latin1(part) : part))))

const signature = latin1("\r\n\r\n\0\r\nQUIT\n")

const u16 = (value: number) => Uint8Array.of(value >> 8, value & 0xff)

// one TLV: type, 16-bit length, value
const tlv = (type: number, value: Uint8Array | string) =>
  concat(Uint8Array.of(type), u16(typeof value === "string" ? value.length : value.length), value)

const v4Bytes = (address: string) => Uint8Array.from(address.split(".").map(Number))

// an IPv6 address of hex groups (at most one "::", no dotted part), as 16 bytes
const v6Bytes = (address: string) => {
  const [head = "", tail] = address.split("::")
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)))
  const h = groups(head)
  const t = tail === undefined ? [] : groups(tail)
  const all = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t]
  return concat(...all.map(u16))
}

interface V2Options {
  readonly command?: number
  readonly version?: number
  readonly family?: number
  readonly length?: number
}

// a v2 header: the signature, version/command, family/transport, length, then `body`
const v2 = (body: Uint8Array, options: V2Options = {}) =>
  concat(
    signature,
    Uint8Array.of(((options.version ?? 2) << 4) | (options.command ?? 1), options.family ?? 0x11),
    u16(options.length ?? body.length),
    body
  )

const v2Inet = (src: string, dst: string, sport: number, dport: number, tlvs: Uint8Array = new Uint8Array()) =>
  v2(concat(v4Bytes(src), v4Bytes(dst), u16(sport), u16(dport), tlvs), { family: 0x11 })

const v2Inet6 = (src: string, dst: string, sport: number, dport: number, tlvs: Uint8Array = new Uint8Array()) =>
  v2(concat(v6Bytes(src), v6Bytes(dst), u16(sport), u16(dport), tlvs), { family: 0x21 })

// a copy with one byte changed
const withByte = (bytes: Uint8Array, index: number, value: number) => {
  const copy = Uint8Array.from(bytes)
  copy[index] = value
  return copy
}

const complete = (parsed: ProxyHeader.Parsed) => {
  assert.strictEqual(parsed._tag, "Complete", `expected Complete, got ${JSON.stringify(parsed)}`)
  return parsed as Extract<ProxyHeader.Parsed, { _tag: "Complete" }>
}

const reasonOf = (parsed: ProxyHeader.Parsed) => {
  assert.strictEqual(parsed._tag, "Malformed", `expected Malformed, got ${JSON.stringify(parsed)}`)
  return (parsed as Extract<ProxyHeader.Parsed, { _tag: "Malformed" }>).reason
}

const proxied = (source: ProxyHeader.Endpoint, destination: ProxyHeader.Endpoint): ProxyHeader.Header => ({
  _tag: "Proxied",
  source,
  destination
})
const local: ProxyHeader.Header = { _tag: "Local" }

// what Node prints for an IPv6 address (libuv's inet_ntop): the reference for canonical form
const nodeForm = (address: string) => new Net.SocketAddress({ address, family: "ipv6" }).address

describe("ProxyHeader", () => {
  describe("v1", () => {
    it("parses TCP4 and says how many bytes it took", () => {
      const header = "PROXY TCP4 192.0.2.1 198.51.100.22 56324 25\r\n"
      expect(ProxyHeader.parse(latin1(header))).toEqual({
        _tag: "Complete",
        header: proxied({ address: "192.0.2.1", port: 56324 }, { address: "198.51.100.22", port: 25 }),
        length: header.length
      })
    })

    it("parses TCP6 and writes the addresses as Node does", () => {
      const parsed = complete(
        ProxyHeader.parse(latin1("PROXY TCP6 2001:DB8:0:0:0:0:0:1 0000:0000:0000:0000:0000:0000:0000:0001 0 65535\r\n"))
      )
      expect(parsed.header).toEqual(proxied({ address: "2001:db8::1", port: 0 }, { address: "::1", port: 65535 }))
      const mapped = complete(ProxyHeader.parse(latin1("PROXY TCP6 ::ffff:192.0.2.1 ::FFFF:c000:202 1 2\r\n")))
      expect(mapped.header).toEqual(
        proxied({ address: "::ffff:192.0.2.1", port: 1 }, { address: "::ffff:192.0.2.2", port: 2 })
      )
    })

    it("takes UNKNOWN, with or without addresses, as Local; the longest header is 107 bytes", () => {
      expect(ProxyHeader.parse(latin1("PROXY UNKNOWN\r\n"))).toEqual({ _tag: "Complete", header: local, length: 15 })
      // the spec's worst case
      const f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
      const longest = `PROXY UNKNOWN ${f} ${f} 65535 65535\r\n`
      expect(longest.length).toBe(107)
      expect(ProxyHeader.parse(latin1(longest))).toEqual({ _tag: "Complete", header: local, length: 107 })
      const tcp6 = `PROXY TCP6 ${f} ${f} 65535 65535\r\n`
      expect(complete(ProxyHeader.parse(latin1(tcp6))).length).toBe(tcp6.length)
    })

    it("leaves the SMTP bytes after the header alone", () => {
      const header = "PROXY TCP4 127.0.0.2 127.0.0.1 40000 2525\r\n"
      const parsed = complete(ProxyHeader.parse(latin1(`${header}EHLO client.example\r\nMAIL FROM:<a@b>\r\n`)))
      expect(parsed.length).toBe(header.length)
    })

    it("is Incomplete until the CRLF, then Complete", () => {
      const header = "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"
      for (let n = 0; n < header.length; n++) {
        expect(ProxyHeader.parse(latin1(header.slice(0, n))), `prefix of ${n} bytes`).toEqual({ _tag: "Incomplete" })
      }
    })

    it.each([
      ["TCP5", "PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n"],
      ["lower-case proxy", "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n"],
      ["lower-case tcp4", "PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n"],
      ["two spaces", "PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n"],
      ["a tab", "PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n"],
      ["a trailing space", "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n"],
      ["five fields", "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n"],
      ["seven fields", "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n"],
      ["no addresses", "PROXY TCP4\r\n"],
      ["a leading zero in IPv4", "PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n"],
      ["an IPv4 part above 255", "PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n"],
      ["three IPv4 parts", "PROXY TCP4 192.0.2 192.0.2.2 1 2\r\n"],
      ["IPv6 in TCP4", "PROXY TCP4 ::1 192.0.2.2 1 2\r\n"],
      ["IPv4 in TCP6", "PROXY TCP6 192.0.2.1 ::1 1 2\r\n"],
      ["two ::", "PROXY TCP6 1::2::3 ::1 1 2\r\n"],
      ["nine IPv6 groups", "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n"],
      ["seven IPv6 groups", "PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n"],
      ["a five-digit group", "PROXY TCP6 1:2:3:4:5:6:7:00008 ::1 1 2\r\n"],
      ["an IPv6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"],
      ["a leading zero in a port", "PROXY TCP4 192.0.2.1 192.0.2.2 025 2\r\n"],
      ["port 65536", "PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n"],
      ["a negative port", "PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n"],
      ["a hex port", "PROXY TCP4 192.0.2.1 192.0.2.2 0x19 2\r\n"],
      ["a bare LF", "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n"],
      ["a CR without LF", "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r\n"],
      ["UNKNOWN glued to more", "PROXY UNKNOWNX\r\n"],
      ["an empty protocol", "PROXY \r\n"]
    ])("rejects %s", (_, header) => {
      expect(ProxyHeader.parse(latin1(header))._tag).toBe("Malformed")
    })

    it("rejects a line without CRLF in its first 107 bytes, and not before", () => {
      const long = `PROXY UNKNOWN ${"x".repeat(200)}`
      expect(ProxyHeader.parse(latin1(long.slice(0, 106)))._tag).toBe("Incomplete")
      expect(reasonOf(ProxyHeader.parse(latin1(long.slice(0, 107))))).toContain("107")
      // 108 bytes with the CRLF: one too many
      expect(ProxyHeader.parse(latin1(`${long.slice(0, 106)}\r\n`))._tag).toBe("Malformed")
      expect(complete(ProxyHeader.parse(latin1(`${long.slice(0, 105)}\r\n`))).length).toBe(107)
    })

    it("rejects what cannot become a header before the CRLF arrives", () => {
      for (const partial of [
        "PROXY X",
        "PROXY TCP4X",
        "PROXY TCP4 hello",
        "PROXY TCP4 1.2.3.4.5 ",
        "PROXY TCP4 1.2.3.4  ",
        "PROXY TCP6 1::2::3 ",
        "PROXY TCP4 1.2.3.4 1.2.3.4 99999 ",
        "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 ",
        "PROXY TCP4 1.2.3.4\rX"
      ]) {
        expect(ProxyHeader.parse(latin1(partial))._tag, partial).toBe("Malformed")
      }
    })
  })

  describe("v2", () => {
    it("parses PROXY over TCP/IPv4", () => {
      const header = v2Inet("192.0.2.1", "198.51.100.22", 56324, 25)
      expect(header.length).toBe(28)
      expect(ProxyHeader.parse(header)).toEqual({
        _tag: "Complete",
        header: proxied({ address: "192.0.2.1", port: 56324 }, { address: "198.51.100.22", port: 25 }),
        length: 28
      })
    })

    it("parses PROXY over TCP/IPv6", () => {
      const header = v2Inet6("2001:db8::1", "::1", 65535, 0)
      expect(header.length).toBe(52)
      expect(ProxyHeader.parse(header)).toEqual({
        _tag: "Complete",
        header: proxied({ address: "2001:db8::1", port: 65535 }, { address: "::1", port: 0 }),
        length: 52
      })
    })

    it("parses a header byte for byte (the fixed part written out)", () => {
      // 127.0.0.2:40000 -> 127.0.0.1:2525, as HAProxy's send-proxy-v2 writes it
      const bytes = Uint8Array.from([
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 127, 0, 0, 2,
        127, 0, 0, 1, 0x9c, 0x40, 0x09, 0xdd
      ])
      expect(complete(ProxyHeader.parse(bytes)).header).toEqual(
        proxied({ address: "127.0.0.2", port: 40000 }, { address: "127.0.0.1", port: 2525 })
      )
    })

    it("takes LOCAL as Local, whatever its family and block", () => {
      expect(ProxyHeader.parse(v2(new Uint8Array(), { command: 0, family: 0 }))).toEqual({
        _tag: "Complete",
        header: local,
        length: 16
      })
      // LOCAL ignores the block, family included
      const withBlock = v2(concat(v4Bytes("10.0.0.1"), v4Bytes("10.0.0.2"), u16(1), u16(2)), {
        command: 0,
        family: 0x11
      })
      expect(ProxyHeader.parse(withBlock)).toEqual({ _tag: "Complete", header: local, length: 28 })
      expect(ProxyHeader.parse(v2(Uint8Array.of(1, 2, 3), { command: 0, family: 0xff }))).toEqual({
        _tag: "Complete",
        header: local,
        length: 19
      })
    })

    it("takes PROXY with a family it cannot use (UNSPEC, UDP, UNIX) as Local", () => {
      expect(complete(ProxyHeader.parse(v2(new Uint8Array(), { family: 0x00 }))).header).toEqual(local)
      const udp = v2(concat(v4Bytes("10.0.0.1"), v4Bytes("10.0.0.2"), u16(1), u16(2)), { family: 0x12 })
      expect(complete(ProxyHeader.parse(udp)).header).toEqual(local)
      const udp6 = v2(concat(v6Bytes("::1"), v6Bytes("::2"), u16(1), u16(2)), { family: 0x22 })
      expect(complete(ProxyHeader.parse(udp6)).header).toEqual(local)
      const unix = v2(new Uint8Array(216), { family: 0x31 })
      expect(complete(ProxyHeader.parse(unix))).toEqual({ _tag: "Complete", header: local, length: 232 })
      // TCP over UNSPEC
      expect(complete(ProxyHeader.parse(v2(Uint8Array.of(9, 9), { family: 0x01 }))).header).toEqual(local)
    })

    it("skips TLVs and leaves the SMTP bytes after the header alone", () => {
      const tlvs = concat(
        tlv(0x01, "smtp"), // PP2_TYPE_ALPN
        tlv(0x04, new Uint8Array(0)), // PP2_TYPE_NOOP
        tlv(0x20, Uint8Array.of(0x07, 0, 0, 0, 0, 0x21, 0x01, 0x00, 0x07, ...latin1("TLSv1.3"))), // PP2_TYPE_SSL
        tlv(0xea, new Uint8Array(300))
      )
      const header = v2Inet6("2001:db8::7", "2001:db8::25", 1234, 25, tlvs)
      const parsed = complete(ProxyHeader.parse(concat(header, "EHLO client.example\r\n")))
      expect(parsed.length).toBe(header.length)
      expect(parsed.header).toEqual(
        proxied({ address: "2001:db8::7", port: 1234 }, { address: "2001:db8::25", port: 25 })
      )
    })

    it("is Incomplete until the whole header is there, then Complete", () => {
      const header = v2Inet("192.0.2.1", "192.0.2.2", 1, 2, tlv(0x04, new Uint8Array(20)))
      for (let n = 0; n < header.length; n++) {
        expect(ProxyHeader.parse(header.subarray(0, n)), `prefix of ${n} bytes`).toEqual({ _tag: "Incomplete" })
      }
      expect(complete(ProxyHeader.parse(header)).length).toBe(header.length)
    })

    it("rejects a bad version, command, family or transport as soon as its byte arrives", () => {
      const cases: ReadonlyArray<[string, Uint8Array]> = [
        ["version 1", withByte(v2Inet("1.1.1.1", "2.2.2.2", 1, 2), 12, 0x11)],
        ["version 3", withByte(v2Inet("1.1.1.1", "2.2.2.2", 1, 2), 12, 0x31)],
        ["command 2", withByte(v2Inet("1.1.1.1", "2.2.2.2", 1, 2), 12, 0x22)],
        ["command 15", withByte(v2Inet("1.1.1.1", "2.2.2.2", 1, 2), 12, 0x2f)],
        ["family 4", withByte(v2Inet("1.1.1.1", "2.2.2.2", 1, 2), 13, 0x41)],
        ["transport 3", withByte(v2Inet("1.1.1.1", "2.2.2.2", 1, 2), 13, 0x13)]
      ]
      for (const [name, header] of cases) {
        const byte = name.startsWith("version") || name.startsWith("command") ? 12 : 13
        expect(ProxyHeader.parse(header)._tag, name).toBe("Malformed")
        expect(ProxyHeader.parse(header.subarray(0, byte + 1))._tag, `${name}, cut after it`).toBe("Malformed")
      }
    })

    it("rejects an address block too short for its family, at the length field", () => {
      const short4 = v2(new Uint8Array(8), { family: 0x11 })
      expect(reasonOf(ProxyHeader.parse(short4))).toContain("too short")
      expect(ProxyHeader.parse(short4.subarray(0, 16))._tag).toBe("Malformed")
      // an IPv4-sized block claimed as IPv6
      expect(ProxyHeader.parse(v2(new Uint8Array(12), { family: 0x21 }))._tag).toBe("Malformed")
      expect(ProxyHeader.parse(v2(new Uint8Array(200), { family: 0x31 }))._tag).toBe("Malformed")
    })

    it("waits for a truncated address block that its length promises", () => {
      const header = v2Inet6("2001:db8::1", "::1", 1, 2)
      expect(ProxyHeader.parse(header.subarray(0, 40))._tag).toBe("Incomplete")
    })

    it("rejects absurd lengths at once, accepts the largest allowed", () => {
      const huge = concat(signature, Uint8Array.of(0x21, 0x11), u16(0xffff))
      expect(reasonOf(ProxyHeader.parse(huge))).toContain("longer")
      const tooLong = v2(new Uint8Array(ProxyHeader.maxV2Payload + 1), { command: 0, family: 0 })
      expect(ProxyHeader.parse(tooLong)._tag).toBe("Malformed")
      const tlvs = tlv(0x04, new Uint8Array(ProxyHeader.maxV2Payload - 12 - 3))
      const largest = v2Inet("1.1.1.1", "2.2.2.2", 1, 2, tlvs)
      expect(complete(ProxyHeader.parse(largest)).length).toBe(16 + ProxyHeader.maxV2Payload)
    })

    it("rejects TLVs that do not fit the header", () => {
      // a TLV header cut short
      expect(reasonOf(ProxyHeader.parse(v2Inet("1.1.1.1", "2.2.2.2", 1, 2, Uint8Array.of(0x04, 0))))).toContain("TLV")
      // a TLV longer than what is left
      expect(ProxyHeader.parse(v2Inet("1.1.1.1", "2.2.2.2", 1, 2, Uint8Array.of(0x04, 0, 5, 1, 2)))._tag).toBe(
        "Malformed"
      )
    })
  })

  describe("neither", () => {
    it("rejects a client that talks SMTP at its first byte, and waits on a signature's prefix", () => {
      expect(ProxyHeader.parse(latin1("E"))._tag).toBe("Malformed")
      expect(ProxyHeader.parse(latin1("EHLO client.example\r\n"))._tag).toBe("Malformed")
      expect(ProxyHeader.parse(latin1("PRO"))._tag).toBe("Incomplete")
      expect(ProxyHeader.parse(latin1("PROXY"))._tag).toBe("Incomplete")
      expect(ProxyHeader.parse(latin1("PROXZ"))._tag).toBe("Malformed")
      expect(ProxyHeader.parse(latin1("PROXY\r\n"))._tag).toBe("Malformed")
      expect(ProxyHeader.parse(new Uint8Array())._tag).toBe("Incomplete")
      expect(ProxyHeader.parse(signature.subarray(0, 7))._tag).toBe("Incomplete")
      expect(ProxyHeader.parse(concat(signature.subarray(0, 7), "X"))._tag).toBe("Malformed")
      // an empty line is a v2 signature's start; a second one is not
      expect(ProxyHeader.parse(latin1("\r\n"))._tag).toBe("Incomplete")
      expect(ProxyHeader.parse(latin1("\r\n\r\n\r\n"))._tag).toBe("Malformed")
    })
  })

  describe("properties", () => {
    const octet = FastCheck.integer({ min: 0, max: 255 })
    const v4 = FastCheck.tuple(octet, octet, octet, octet).map((parts) => parts.join("."))
    // groups biased towards zero runs, where the canonical form has its cases
    const group = FastCheck.oneof(
      FastCheck.constant(0),
      FastCheck.constant(0xffff),
      FastCheck.integer({ min: 0, max: 0xffff })
    )
    const v6Groups = FastCheck.array(group, { minLength: 8, maxLength: 8 })
    const fullForm = (groups: ReadonlyArray<number>) =>
      groups.map((g) => g.toString(16).padStart(4, "0").toUpperCase()).join(":")
    const port = FastCheck.integer({ min: 0, max: 65535 })
    const tlvs = FastCheck.array(
      FastCheck.tuple(octet, FastCheck.uint8Array({ maxLength: 40 })).map(([type, value]) => tlv(type, value)),
      { maxLength: 4 }
    ).map((list) => concat(...list))

    // a valid header of any kind, with the header the parser must find
    const header: FastCheck.Arbitrary<{ readonly bytes: Uint8Array; readonly expected: ProxyHeader.Header }> =
      FastCheck.oneof(
        FastCheck.tuple(v4, v4, port, port).map(([s, d, sp, dp]) => ({
          bytes: latin1(`PROXY TCP4 ${s} ${d} ${sp} ${dp}\r\n`),
          expected: proxied({ address: s, port: sp }, { address: d, port: dp })
        })),
        FastCheck.tuple(v6Groups, v6Groups, port, port).map(([s, d, sp, dp]) => ({
          bytes: latin1(`PROXY TCP6 ${fullForm(s)} ${fullForm(d)} ${sp} ${dp}\r\n`),
          expected: proxied({ address: nodeForm(fullForm(s)), port: sp }, { address: nodeForm(fullForm(d)), port: dp })
        })),
        FastCheck.constant({ bytes: latin1("PROXY UNKNOWN\r\n"), expected: local }),
        FastCheck.tuple(v4, v4, port, port, tlvs).map(([s, d, sp, dp, t]) => ({
          bytes: v2Inet(s, d, sp, dp, t),
          expected: proxied({ address: s, port: sp }, { address: d, port: dp })
        })),
        FastCheck.tuple(v6Groups, v6Groups, port, port, tlvs).map(([s, d, sp, dp, t]) => ({
          bytes: v2Inet6(fullForm(s), fullForm(d), sp, dp, t),
          expected: proxied({ address: nodeForm(fullForm(s)), port: sp }, { address: nodeForm(fullForm(d)), port: dp })
        })),
        FastCheck.uint8Array({ maxLength: 50 }).map((block) => ({
          bytes: v2(block, { command: 0, family: 0 }),
          expected: local
        }))
      )

    itProp(
      "every split point is Incomplete until the header is whole; then it is found, the rest left alone",
      { header, rest: FastCheck.uint8Array({ maxLength: 30 }) },
      ({ header: { bytes, expected }, rest }) => {
        for (let n = 0; n < bytes.length; n++) {
          expect(ProxyHeader.parse(bytes.subarray(0, n))._tag).toBe("Incomplete")
        }
        expect(ProxyHeader.parse(concat(bytes, rest))).toEqual({
          _tag: "Complete",
          header: expected,
          length: bytes.length
        })
      },
      { fastCheck: { numRuns: 300 } }
    )

    itProp(
      "writes every IPv6 address as Node's remoteAddress would, from text or from bytes",
      { source: v6Groups, destination: v6Groups },
      ({ source, destination }) => {
        const expected = proxied(
          { address: nodeForm(fullForm(source)), port: 1 },
          { address: nodeForm(fullForm(destination)), port: 2 }
        )
        const fromText = ProxyHeader.parse(
          latin1(`PROXY TCP6 ${nodeForm(fullForm(source))} ${fullForm(destination)} 1 2\r\n`)
        )
        expect(complete(fromText).header).toEqual(expected)
        expect(complete(ProxyHeader.parse(v2Inet6(fullForm(source), fullForm(destination), 1, 2))).header).toEqual(
          expected
        )
      },
      { fastCheck: { numRuns: 1000 } }
    )

    // random bytes, and bytes that start like a header so the parser gets past the signature
    const noise = FastCheck.oneof(
      FastCheck.uint8Array({ maxLength: 300 }),
      FastCheck.uint8Array({ maxLength: 120 }).map((tail) => concat("PROXY ", tail)),
      FastCheck.tuple(FastCheck.constantFrom("TCP4 ", "TCP6 ", "UNKNOWN"), FastCheck.string({ maxLength: 110 })).map(
        ([protocol, tail]) => latin1(`PROXY ${protocol}${tail}`)
      ),
      FastCheck.uint8Array({ maxLength: 300 }).map((tail) => concat(signature, tail))
    )

    itProp(
      "never throws on any bytes, and never claims more bytes than it was given",
      { bytes: noise },
      ({ bytes }) => {
        const parsed = ProxyHeader.parse(bytes)
        if (parsed._tag === "Complete") {
          expect(parsed.length).toBeGreaterThan(0)
          expect(parsed.length).toBeLessThanOrEqual(bytes.length)
          // the same header without what follows it
          expect(ProxyHeader.parse(bytes.subarray(0, parsed.length))).toEqual(parsed)
        }
        if (parsed._tag === "Malformed") {
          // a verdict once given stays: more bytes cannot repair it
          expect(ProxyHeader.parse(concat(bytes, "\r\n"))._tag).toBe("Malformed")
        }
      },
      { fastCheck: { numRuns: 2000 } }
    )
  })
})
