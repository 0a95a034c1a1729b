// Reply: encoding (multi-line, enhanced codes only when asked, no line injection), the checks on
// codes, and decoding what was encoded.
import { describe, expect, it } from "@effect/vitest"
import * as Reply from "../../src/protocol/Reply.js"

describe("Reply", () => {
  it("encodes single and multi-line replies, with enhanced codes only when asked", () => {
    expect(Reply.encode(Reply.make(250, "2.1.0", "Ok"), true)).toBe("250 2.1.0 Ok\r\n")
    expect(Reply.encode(Reply.make(250, "2.1.0", "Ok"), false)).toBe("250 Ok\r\n")
    expect(Reply.encode(Reply.ehlo("mx.example", ["PIPELINING", "8BITMIME"]), true)).toBe(
      "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    )
    expect(Reply.encode(Reply.make(550, "5.7.1", ["one", "two"]), true)).toBe("550-5.7.1 one\r\n550 5.7.1 two\r\n")
  })

  it("never lets text inject a reply line", () => {
    expect(Reply.encode(Reply.make(250, undefined, "ok\r\n250 forged"), false)).toBe("250 ok 250 forged\r\n")
  })

  it("checks codes", () => {
    expect(() => Reply.make(250, "5.1.1", "x")).toThrow()
    expect(() => Reply.make(199, undefined, "x")).toThrow()
    expect(() => Reply.make(550, "5.1", "x")).toThrow()
  })

  it("decodes what it encodes", () => {
    for (const reply of [Reply.make(250, "2.0.0", ["a", "b"]), Reply.make(421, "4.4.2", "bye"), Reply.helo("mx")]) {
      expect(Reply.decode(Reply.encode(reply, true))).toEqual(reply)
    }
  })
})
