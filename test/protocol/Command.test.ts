// Command: the line codec (decode ∘ encode = id, canonical lines, lenient reading, each failure's
// reply) and verbs and keywords read as ASCII only.
import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as FastCheck from "fast-check"
import * as Arbitraries from "../utils/arbitraries.js"
import * as Command from "../../src/protocol/Command.js"
import * as Reply from "../../src/protocol/Reply.js"

const decoded = (line: string) => {
  const result = Command.decodeLine(line)
  if (Result.isFailure(result)) throw new Error(`${line}: ${Reply.encode(result.failure, true)}`)
  return result.success
}
const refusal = (line: string) => {
  const result = Command.decodeLine(line)
  if (Result.isSuccess(result)) throw new Error(`${line} decoded`)
  return `${result.failure.code} ${result.failure.enhanced}`
}

describe("Command codec", () => {
  it("decode ∘ encode = id for every command", () => {
    FastCheck.assert(
      FastCheck.property(Arbitraries.command, (command) => {
        const line = Schema.encodeSync(Command.CommandFromLine)(command)
        // toEqual: the arbitrary may write an absent optional value as an explicit undefined
        expect(Schema.decodeSync(Command.CommandFromLine)(line)).toEqual(command)
      }),
      { numRuns: 500 }
    )
  })

  it("encodes canonical lines back to themselves", () => {
    for (const line of [
      "HELO client.example",
      "EHLO [192.0.2.1]",
      "MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME",
      "MAIL FROM:<>",
      "RCPT TO:<Postmaster>",
      'RCPT TO:<"john doe"@example.com>',
      "RCPT TO:<x@[IPv6:2001:db8::1]>",
      "DATA",
      "RSET",
      "NOOP",
      "NOOP anything at all",
      "QUIT",
      "VRFY root",
      "EXPN staff",
      "HELP",
      "HELP MAIL"
    ]) {
      expect(Command.encodeLine(decoded(line))).toBe(line)
    }
  })

  it("reads verbs in any case, a space after the colon, source routes and quoted local parts", () => {
    expect(decoded("mail from:<a@b.example>")).toEqual({ _tag: "Mail", from: "a@b.example", parameters: [] })
    expect(decoded("MAIL FROM: <a@b.example>")).toEqual({ _tag: "Mail", from: "a@b.example", parameters: [] })
    expect(decoded("RCPT TO:<@relay.example,@other.example:c@d.example>")).toEqual({
      _tag: "Rcpt",
      to: "c@d.example",
      parameters: []
    })
    expect(decoded('RCPT TO:<"a>b c"@d.example>')).toMatchObject({ to: '"a>b c"@d.example' })
    // only SP and HTAB around free text are dropped: a trailing no-break space is text
    expect(decoded("HELP \t topic\u00a0 ")).toEqual({ _tag: "Help", topic: "topic\u00a0" })
    expect(decoded("mail FROM:<a@b.example> size=12 body=8bitmime")).toMatchObject({
      parameters: [
        { keyword: "SIZE", value: "12" },
        { keyword: "BODY", value: "8bitmime" }
      ]
    })
    expect(decoded("RCPT TO:<jörg@bücher.example>")).toMatchObject({ to: "jörg@bücher.example" })
  })

  it("gives each failure its reply", () => {
    expect(refusal("FOO bar")).toBe("500 5.5.2")
    expect(refusal("TURN")).toBe("502 5.5.1")
    expect(refusal("DATA now")).toBe("501 5.5.4")
    expect(refusal("QUIT please")).toBe("501 5.5.4")
    expect(refusal("HELO")).toBe("501 5.5.4")
    expect(refusal("VRFY")).toBe("501 5.5.4")
    expect(refusal("MAIL FROM:a@b.example")).toBe("501 5.5.4")
    expect(refusal("MAIL TO:<a@b.example>")).toBe("501 5.5.4")
    expect(refusal("MAIL FROM:<a@b.example>x")).toBe("501 5.5.4")
    expect(refusal("MAIL FROM:<a@b.example> =x")).toBe("501 5.5.4")
    expect(refusal("MAIL FROM:<a@b.example> SIZE=")).toBe("501 5.5.4")
    expect(refusal("MAIL FROM:<a..b@c.example>")).toBe("501 5.1.7")
    expect(refusal("MAIL FROM:<Postmaster>")).toBe("501 5.1.7")
    expect(refusal("RCPT TO:<no-domain@>")).toBe("501 5.1.3")
    expect(refusal("RCPT TO:<@bad-route>")).toBe("501 5.1.3")
  })
})

describe("verbs and keywords are ASCII", () => {
  // String#toUpperCase maps "ı" (dotless i) to I and "ſ" (long s) to S: a command never sent
  it("reads no verb, mechanism or keyword through Unicode case mapping", () => {
    expect(Command.verbOf("quıt")).toBe("QUıT")
    expect(Command.verbOf("mail FROM:<a@b.example>")).toBe("MAIL")
    expect(refusal("quıt")).toBe("500 5.5.2")
    expect(refusal("maıl FROM:<a@b.example>")).toBe("500 5.5.2")
    expect(refusal("AUTH plaın")).toBe("504 5.5.4")
    expect(refusal("AUTH PLAIN\u017f")).toBe("504 5.5.4")
    expect(decoded("auth plain")).toEqual({ _tag: "Auth", mechanism: "PLAIN" })
    // "ſize" would be SIZE through Unicode: here it is no keyword at all
    expect(refusal("MAIL FROM:<a@b.example> \u017fize=10")).toBe("501 5.5.4")
  })
})
