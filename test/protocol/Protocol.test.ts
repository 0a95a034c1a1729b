import { describe, expect, it } from "@effect/vitest"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as Reply from "../../src/protocol/Reply.js"
import * as Session from "../../src/protocol/Session.js"

const line = (text: string) => ({ _tag: "Line" as const, bytes: new TextEncoder().encode(text) })

// Runs lines through step, taking every handler decision as accepted; returns the replies.
const converse = (lines: ReadonlyArray<string>, options: Partial<Protocol.Config> = {}) => {
  const config = Protocol.makeConfig({ hostname: "mx.test", ...options })
  let state = Session.initial
  const replies: Array<string> = []
  for (const text of lines) {
    const decision = Protocol.step(config, state, line(text))
    state = decision.state
    switch (decision._tag) {
      case "Reply":
        // an error past the soft limit is answered after a pause
        replies.push(decision.slow === true ? `${code(decision.reply)} slow` : code(decision.reply))
        break
      case "Close":
        replies.push(`${code(decision.reply)} close`)
        return { replies, state }
      case "Mail":
        state = decision.accepted
        replies.push("MAIL?")
        break
      case "Rcpt":
        state = decision.accepted
        replies.push("RCPT?")
        break
      case "Data":
        state = Session.reset(state)
        replies.push("DATA?")
        break
      case "User":
        replies.push(`USER ${decision.verb} ${decision.argument}`)
        break
    }
  }
  return { replies, state }
}
const code = (reply: Reply.Reply) => `${reply.code}${reply.enhanced ? ` ${reply.enhanced}` : ""}`

describe("Protocol.step", () => {
  it("needs HELO or EHLO before MAIL", () => {
    expect(converse(["MAIL FROM:<a@b.example>"]).replies).toEqual(["503 5.5.1"])
    expect(converse(["HELO c", "MAIL FROM:<a@b.example>"]).replies).toEqual(["250", "MAIL?"])
  })

  it("EHLO again resets the transaction (RFC 5321 §4.1.4)", () => {
    const { replies, state } = converse([
      "EHLO c",
      "MAIL FROM:<a@b.example>",
      "RCPT TO:<c@d.example>",
      "EHLO c",
      "MAIL FROM:<a@b.example>"
    ])
    expect(replies).toEqual(["250", "MAIL?", "RCPT?", "250", "MAIL?"])
    expect(state.envelope?.recipients).toEqual([])
  })

  it("orders MAIL, RCPT and DATA", () => {
    expect(converse(["EHLO c", "MAIL FROM:<a@b.example>", "MAIL FROM:<a@b.example>"]).replies).toEqual([
      "250",
      "MAIL?",
      "503 5.5.1"
    ])
    expect(converse(["EHLO c", "RCPT TO:<a@b.example>"]).replies).toEqual(["250", "503 5.5.1"])
    expect(converse(["EHLO c", "DATA"]).replies).toEqual(["250", "503 5.5.1"])
    expect(converse(["EHLO c", "MAIL FROM:<a@b.example>", "DATA"]).replies).toEqual(["250", "MAIL?", "554 5.5.1"])
    expect(converse(["EHLO c", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "DATA"]).replies).toEqual([
      "250",
      "MAIL?",
      "RCPT?",
      "DATA?"
    ])
  })

  it("answers RSET, NOOP, VRFY, EXPN, HELP and QUIT", () => {
    const { replies, state } = converse([
      "EHLO c",
      "MAIL FROM:<a@b.example>",
      "RSET",
      "NOOP with arguments",
      "VRFY root",
      "EXPN staff",
      "HELP",
      "QUIT"
    ])
    expect(replies).toEqual([
      "250",
      "MAIL?",
      "250 2.0.0",
      "250 2.0.0",
      "252 2.5.0",
      "502 5.5.1",
      "214 2.0.0",
      "221 2.0.0 close"
    ])
    expect(state.envelope).toBeUndefined()
  })

  it("closes with 421 4.7.0 at the configured number of errors", () => {
    const { replies } = converse(["FOO", "BAR", "EHLO c", "BAZ", "NOOP"], { maxErrors: 3 })
    expect(replies).toEqual(["500 5.5.2", "500 5.5.2", "250", "421 4.7.0 close"])
  })

  it("slows errors past slowErrorsAfter and closes at maxErrors, by default after 10 and at 20", () => {
    const small = converse(["EHLO c", "FOO", "BAR", "NOOP", "BAZ", "QUX", "FOO"], { maxErrors: 5, slowErrorsAfter: 2 })
    // NOOP is not an error: it neither counts nor waits
    expect(small.replies).toEqual([
      "250",
      "500 5.5.2",
      "500 5.5.2",
      "250 2.0.0",
      "500 5.5.2 slow",
      "500 5.5.2 slow",
      "421 4.7.0 close"
    ])
    const { replies, state } = converse(Array.from({ length: 25 }, () => "FOO"))
    expect(replies).toEqual([...Array(10).fill("500 5.5.2"), ...Array(9).fill("500 5.5.2 slow"), "421 4.7.0 close"])
    expect(state.errors).toBe(20)
  })

  it("answers an over-long line 500 5.5.6", () => {
    const config = Protocol.makeConfig()
    const decision = Protocol.step(config, Session.initial, { _tag: "LineTooLong" })
    expect(decision._tag === "Reply" && code(decision.reply)).toBe("500 5.5.6")
    expect(decision.state.errors).toBe(1)
  })

  it("answers bytes that are not UTF-8 with 501", () => {
    const decision = Protocol.step(Protocol.makeConfig(), Session.initial, {
      _tag: "Line",
      bytes: new Uint8Array([0x4e, 0x4f, 0x4f, 0x50, 0x20, 0xff, 0xfe])
    })
    expect(decision._tag === "Reply" && code(decision.reply)).toBe("501 5.5.4")
  })

  it("advertises what is offered", () => {
    expect(Protocol.ehloKeywords(Protocol.makeConfig())).toEqual([
      "PIPELINING",
      "SIZE 33554432",
      "8BITMIME",
      "CHUNKING",
      "BINARYMIME",
      "DSN",
      "ENHANCEDSTATUSCODES"
    ])
    expect(
      Protocol.ehloKeywords(
        Protocol.makeConfig({ maxMessageSize: 0, eightBitMime: false, smtpUtf8: true, chunking: false, dsn: false })
      )
    ).toEqual(["PIPELINING", "SMTPUTF8", "ENHANCEDSTATUSCODES"])
    // BINARYMIME is 8-bit content: not without 8BITMIME
    expect(Protocol.ehloKeywords(Protocol.makeConfig({ eightBitMime: false, dsn: false }))).toEqual([
      "PIPELINING",
      "SIZE 33554432",
      "CHUNKING",
      "ENHANCEDSTATUSCODES"
    ])
  })

  it("checks MAIL parameters", () => {
    const mail = (params: string, options: Partial<Protocol.Config> = {}) =>
      converse(["EHLO c", `MAIL FROM:<a@b.example>${params}`], options).replies[1]
    expect(mail(" SIZE=1000", { maxMessageSize: 2000 })).toBe("MAIL?")
    expect(mail(" SIZE=3000", { maxMessageSize: 2000 })).toBe("552 5.3.4")
    expect(mail(" SIZE=3000", { maxMessageSize: 0 })).toBe("MAIL?")
    expect(mail(" SIZE=12x")).toBe("501 5.5.4")
    expect(mail(" BODY=8BITMIME")).toBe("MAIL?")
    expect(mail(" BODY=7BIT")).toBe("MAIL?")
    expect(mail(" BODY=BINARYMIME")).toBe("MAIL?")
    expect(mail(" BODY=BINARYMIME", { chunking: false })).toBe("501 5.5.4")
    expect(mail(" BODY=8BITMIME", { eightBitMime: false })).toBe("555 5.5.4")
    expect(mail(" SMTPUTF8")).toBe("555 5.5.4")
    expect(mail(" SMTPUTF8", { smtpUtf8: true })).toBe("MAIL?")
    expect(mail(" SMTPUTF8=yes", { smtpUtf8: true })).toBe("501 5.5.4")
    expect(mail(" XFOO=1")).toBe("555 5.5.4")
    expect(mail(" SIZE=1 SIZE=2")).toBe("501 5.5.4")
    // parameters need EHLO
    expect(converse(["HELO c", "MAIL FROM:<a@b.example> BODY=8BITMIME"]).replies[1]).toBe("555 5.5.4")
    // DSN's RCPT parameters only where DSN is offered (RFC 3461)
    const rcpt = (params: string, options: Partial<Protocol.Config> = {}, greeting = "EHLO c") =>
      converse([greeting, "MAIL FROM:<a@b.example>", `RCPT TO:<c@d.example>${params}`], options).replies[2]
    expect(rcpt(" NOTIFY=NEVER", { dsn: false })).toBe("555 5.5.4")
    expect(rcpt(" NOTIFY=NEVER", {}, "HELO c")).toBe("555 5.5.4")
    expect(rcpt(" NOTIFY=NEVER")).toBe("RCPT?")
    expect(rcpt(" NOTIFY=NEVER,SUCCESS")).toBe("501 5.5.4")
    expect(rcpt(" XFOO=1")).toBe("555 5.5.4")
  })

  it("needs SMTPUTF8 for non-ASCII addresses (RFC 6531)", () => {
    expect(converse(["EHLO c", "MAIL FROM:<jörg@b.example>"], { smtpUtf8: true }).replies[1]).toBe("553 5.6.7")
    expect(converse(["EHLO c", "MAIL FROM:<jörg@b.example> SMTPUTF8"], { smtpUtf8: true }).replies[1]).toBe("MAIL?")
    expect(
      converse(["EHLO c", "MAIL FROM:<a@b.example>", "RCPT TO:<jörg@b.example>"], { smtpUtf8: true }).replies[2]
    ).toBe("553 5.6.7")
    expect(
      converse(["EHLO c", "MAIL FROM:<a@b.example> SMTPUTF8", "RCPT TO:<jörg@b.example>"], { smtpUtf8: true })
        .replies[2]
    ).toBe("RCPT?")
  })

  it("refuses paths over RFC 5321's lengths, in octets, unless addressLimits is off (§4.5.3.1)", () => {
    const local64 = "a".repeat(64)
    const mailbox = (local: string, domainLength: number) =>
      `${local}@${"d".repeat(domainLength - ".example".length)}.example`
    const mail = (address: string, options: Partial<Protocol.Config> = {}) =>
      converse(["EHLO c", `MAIL FROM:<${address}> SMTPUTF8`], { smtpUtf8: true, ...options }).replies[1]
    const rcpt = (address: string) => converse(["EHLO c", "MAIL FROM:<a@b.example>", `RCPT TO:<${address}>`]).replies[2]
    expect(mail(`${local64}@b.example`)).toBe("MAIL?")
    expect(mail(`${local64}a@b.example`)).toBe("501 5.1.7")
    expect(rcpt(`${local64}a@b.example`)).toBe("501 5.1.3")
    // a path of 256 octets with its brackets is the most
    expect(rcpt(mailbox(local64, 254 - 65))).toBe("RCPT?")
    expect(rcpt(mailbox(local64, 255 - 65))).toBe("501 5.1.3")
    // 33 characters of two octets each: 66 octets
    expect(mail(`${"\u00fc".repeat(32)}@b.example`)).toBe("MAIL?")
    expect(mail(`${"\u00fc".repeat(33)}@b.example`)).toBe("501 5.1.7")
    expect(mail(`${local64}a@b.example`, { addressLimits: false })).toBe("MAIL?")
    expect(rcpt("Postmaster")).toBe("RCPT?")
  })

  it("limits recipients per transaction", () => {
    const lines = [
      "EHLO c",
      "MAIL FROM:<a@b.example>",
      "RCPT TO:<1@d.example>",
      "RCPT TO:<2@d.example>",
      "RCPT TO:<3@d.example>"
    ]
    expect(converse(lines, { maxRecipients: 2 }).replies.slice(2)).toEqual(["RCPT?", "RCPT?", "452 4.5.3"])
  })

  it("hands user verbs to the connection before the built-in ones", () => {
    const { replies } = converse(["XCLIENT name=x", "vrfy root"], { userVerbs: new Set(["XCLIENT", "VRFY"]) })
    expect(replies).toEqual(["USER XCLIENT name=x", "USER VRFY root"])
  })
})
