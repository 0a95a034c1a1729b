// Address: which strings are RFC 5321 mailboxes (dot-strings, quoted strings, address literals,
// UTF-8), and which are ASCII.
import { describe, expect, it } from "@effect/vitest"
import * as Address from "../../src/protocol/Address.js"

describe("Address", () => {
  it("accepts RFC 5321 mailboxes", () => {
    for (const mailbox of [
      "a@b.example",
      "first.last+tag@sub.example.com",
      "!#$%&'*+-/=?^_`{|}~@x.example",
      '"quoted string"@example.com',
      '"with \\" escape"@example.com',
      "a@[192.0.2.1]",
      "a@[IPv6:2001:db8::1]",
      "a@[IPv6:::1]",
      "a@[IPv6:::ffff:192.0.2.1]",
      "a@[tag:general-literal]",
      "ü@ä.example"
    ]) {
      expect(Address.isMailbox(mailbox), mailbox).toBe(true)
    }
  })

  it("refuses what is not a mailbox", () => {
    for (const text of [
      "",
      "@b.example",
      "a@",
      "a.@b.example",
      ".a@b.example",
      "a..b@c.example",
      "a b@c.example",
      "a@-b.example",
      "a@b-.example",
      "a@b..example",
      "a@[256.1.1.1]",
      "a@[1.2.3]",
      "a@[IPv6:1::2::3]",
      "a@[IPv6:1:2:3:4:5:6:7:8:9]",
      "a@[IPv6:12345::1]",
      '"unterminated@b.example'
    ]) {
      expect(Address.isMailbox(text), text).toBe(false)
    }
  })

  it("tells ASCII from UTF-8 addresses", () => {
    expect(Address.isAscii("a@b.example")).toBe(true)
    expect(Address.isAscii("ü@b.example")).toBe(false)
  })
})
